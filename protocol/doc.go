// Package protocol is the wire between tffs clients, the master and nodes:
// message types and their hardened CBOR codec, CURVE key pairs, the ZeroMQ
// transport (one goroutine owns each socket), request/reply correlation,
// typed errors that survive the wire, and chunked, flow-controlled streams.
//
// # Delivery across reconnects
//
// ZeroMQ reconnects by itself but loses what was queued on a connection
// that broke, and a ROUTER drops what it sends to a peer it has no
// connection for. Every connection made with Dial is therefore a link with
// sequence numbers, a bounded resend buffer, cumulative acknowledgements
// and duplicate suppression, all under the Msg flow (a header frame in
// front of each message; link.go):
//
//   - Each side numbers every message it sends on the link (requests,
//     replies, events, stream chunks and credits, pings, goodbyes) and
//     keeps it until the peer acknowledges it.
//   - The receiver delivers a message only if it is the next in order;
//     a duplicate is dropped, a gap is dropped and a resend asked for.
//     It acknowledges the highest in-order number on every message it
//     sends, every 32 messages, and every 50 ms when there is news.
//   - After a reconnection (the client's handshake event) the client asks
//     the server to resend and resends itself what is unacknowledged;
//     without acknowledgement progress for 2 s either side resends.
//   - Bound: a link whose peer acknowledged nothing for LinkTimeout (20 s)
//     while messages wait, or whose resend buffer would pass
//     LinkMaxUnacked messages or LinkMaxUnackedBytes (64 MiB), is declared
//     broken. So is a link whose peer restarted: the client chooses a
//     random id for each link incarnation, the server has one per run, and
//     a message for an unknown or earlier incarnation is answered with a
//     reset.
//   - A broken link is reported to the consumer as a KindLinkReset message
//     (with the cause in Err, wrapping ErrUnavailable); the consumer fails
//     every call and stream open over it with ErrUnavailable (the SDK then
//     re-reads its containers' exits from the master; the master fails the
//     session's streams on its nodes, or drops a node's containers), and
//     the client starts a new incarnation at once.
//
// So every message is delivered exactly once and in order across
// reconnections, or what was in flight fails with ErrUnavailable no later
// than LinkTimeout after the peer stopped acknowledging, never silently.
// Messages the server sends outside a link (refusals of a session name)
// are not numbered.
//
// protocol imports no other tffs package; master, node and sdk build on it.
package protocol

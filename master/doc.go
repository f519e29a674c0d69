// Package master is the tffs master daemon as a library: it authenticates
// clients and nodes (ZAP: only known public keys complete the handshake),
// brokers messages between sessions and nodes, owns the session registry
// with heartbeats and garbage collection, keeps the resource offer live,
// caches images and content-addressed layers, and persists what must
// survive a restart in an embedded store.
//
// # Restarts
//
// The store (bbolt, master.db in Config.Dir) holds accounts, nodes,
// images, and — written on every change, in the actor goroutine — each
// session (id, account, key) and each container (id, name, session, node,
// image, account, tag, state, exit code, boot numbers). Per-process
// counts, uploads in flight and streams are not kept.
//
// A master that starts (after a crash, SIGKILL included, or a clean stop:
// stopping ends no session) restores them: every session gets a fresh
// deadline (now + SessionTimeout) for its client to come back, and its name
// is bound again to its key in the transport, so no other key can claim
// it. Every node counts as offline until it says hello. Nothing is
// destroyed by the master going away: nodes keep running the containers,
// and clients keep their sessions.
//
// Each master start has a new incarnation id, sent in every heartbeat
// answer (protocol.Pong), offer and node hello reply. A node or client
// that sees it change says hello again at once (a client under the same
// session name, taking up its session; its calls in flight fail with
// ErrUnavailable).
//
// A node's hello (on connect, when it sees a new incarnation, and then
// periodically) reports the containers it runs: id, boot number, exited
// and exit code. The master settles its records with the report (settle):
//   - ownership is the store's word: a reported container the master does
//     not hold on that node (its session ended or was collected while the
//     node or the master was away) is named in the reply, and the node
//     destroys it;
//   - runtime state is the node's word, forward only: a newer boot, or an
//     exit the master missed (its event was lost with the old master), is
//     taken, saved, and the exit sent to the session;
//   - a container the master holds on the node and the node does not report
//     is forgotten and reported gone to its session (it died with the node),
//     unless its spawn is still in flight.
//
// A session whose client does not come back within the timeout is
// collected as usual; its containers on nodes that are offline then are
// destroyed when those nodes come back, by the rule above.
//
// master imports protocol and no other tffs package.
package master

// Package protocol is the wire between tffs clients, the master and nodes:
// message types and their hardened CBOR codec, CURVE key pairs, the ZeroMQ
// transport (one goroutine owns each socket), request/reply correlation,
// typed errors that survive the wire, and chunked, flow-controlled streams.
//
// protocol imports no other tffs package; master, node and sdk build on it.
package protocol

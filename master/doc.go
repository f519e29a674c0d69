// Package master is the tffs master daemon as a library: it authenticates
// clients and nodes (ZAP: only known public keys complete the handshake),
// brokers messages between sessions and nodes, owns the session registry
// with heartbeats and garbage collection, keeps the resource offer live,
// caches images and content-addressed layers, and persists what must
// survive a restart in an embedded store.
//
// master imports protocol and no other tffs package.
package master

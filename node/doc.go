// Package node is the tffs node daemon as a library: it registers with its
// master, fetches image layers from it, and runs the containers and
// processes of client sessions with containerd (package node/runtime),
// streaming their output back with flow control.
//
// node imports protocol (and its own runtime) and no other tffs package.
package node

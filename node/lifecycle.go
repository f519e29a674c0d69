package node

// Close stops the node and waits until it has stopped: a running Run
// destroys its containers, stops a private containerd and returns; every
// goroutine the node started has ended when Close returns. A node that
// was never run holds nothing (New only loads its key). Close is
// idempotent and returns the node's result (as Err).
func (n *Node) Close() error { return n.life.Close(nil) }

// Done is closed when the node has stopped (Run returned, or Close was
// called on a node that never ran); Err then gives the result.
func (n *Node) Done() <-chan struct{} { return n.life.Done() }

// Err is the node's result once Done is closed: nil after a clean stop,
// the reason otherwise (e.g. its containerd died).
func (n *Node) Err() error { return n.life.Err() }

package node

import "sync"

// lifecycle tracks a node from New to its end: Run may start once, Close
// may come any number of times (before, during or after Run).
type lifecycle struct {
	mu        sync.Mutex
	started   bool
	closed    bool
	quit      chan struct{} // closed by Close: Run stops
	done      chan struct{} // closed when the node has stopped; err is then set
	err       error
	closeOnce sync.Once
	initOnce  sync.Once
}

// init makes the channels on first use, so New need not (the zero
// lifecycle is ready).
func (l *lifecycle) init() {
	l.initOnce.Do(func() {
		l.quit = make(chan struct{})
		l.done = make(chan struct{})
	})
}

// quitC is closed by Close.
func (l *lifecycle) quitC() chan struct{} { l.init(); return l.quit }

// doneC is closed when the daemon has stopped.
func (l *lifecycle) doneC() chan struct{} { l.init(); return l.done }

// start reports whether Run may go on (first call, not closed).
func (l *lifecycle) start() bool {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.closed {
		return false
	}
	l.started = true
	return true
}

// finish records the node's result and wakes every waiter.
func (l *lifecycle) finish(err error) {
	l.err = err
	close(l.doneC())
}

// Close stops the node and waits until it has stopped: a running Run
// destroys its containers, stops a private containerd and returns; every
// goroutine the node started has ended when Close returns. A node that
// was never run holds nothing (New only loads its key). Close is
// idempotent and returns the node's result (as Err).
func (n *Node) Close() error {
	n.life.closeOnce.Do(func() {
		n.life.mu.Lock()
		n.life.closed = true
		ran := n.life.started
		n.life.mu.Unlock()
		close(n.life.quitC())
		if !ran {
			n.life.finish(nil)
		}
	})
	<-n.life.doneC()
	return n.life.err
}

// Done is closed when the node has stopped (Run returned, or Close was
// called on a node that never ran); Err then gives the result.
func (n *Node) Done() <-chan struct{} { return n.life.doneC() }

// Err is the node's result once Done is closed: nil after a clean stop,
// the reason otherwise (e.g. its containerd died).
func (n *Node) Err() error {
	select {
	case <-n.life.doneC():
		return n.life.err
	default:
		return nil
	}
}

package master

import "sync"

// adminSockets tracks the admin sockets ServeAdmin serves, so the
// master's end waits for them.
type adminSockets struct {
	mu     sync.Mutex
	closed bool // no new admin socket may start
	wg     sync.WaitGroup
}

// add registers an admin socket; false once the master is stopping.
func (a *adminSockets) add() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.wg.Add(1)
	return true
}

// stop refuses new admin sockets and waits for the running ones (they
// stop on their own when the master stops).
func (a *adminSockets) stop() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.wg.Wait()
}

// Close stops the master and waits until it has stopped: a running Run
// returns (ending every session, as when its context ends); a master that
// was never run closes its socket and store. Every goroutine the master
// started, admin sockets included, has ended when Close returns. Close is
// idempotent and returns the master's result (as Err).
func (m *Master) Close() error {
	return m.life.Close(func() error {
		close(m.stopping)
		return m.release()
	})
}

// Done is closed when the master has stopped (its Run returned, or Close
// released a master that never ran); Err then gives the result.
func (m *Master) Done() <-chan struct{} { return m.life.Done() }

// Err is the master's result once Done is closed (nil before, and after a
// clean stop).
func (m *Master) Err() error { return m.life.Err() }

package master

import "sync"

// lifecycle tracks a master from New to its end: Run may start once,
// Close may come any number of times (before, during or after Run), and
// the admin sockets served by ServeAdmin are waited for on the way out.
type lifecycle struct {
	mu          sync.Mutex
	started     bool // Run was called
	closed      bool // Close was called
	adminClosed bool // no new admin socket may start
	admin       sync.WaitGroup

	quit chan struct{} // closed by Close: Run returns
	done chan struct{} // closed when the master has stopped; err is then set
	err  error
	// releaseErr is what failed closing the socket and store (set by
	// shutdown, before err).
	releaseErr error
	closeOnce  sync.Once
	initOnce   sync.Once
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

// finish records the master's result and wakes every waiter.
func (l *lifecycle) finish(err error) {
	l.err = err
	close(l.doneC())
}

// addAdmin registers an admin socket; false once the master is stopping.
func (l *lifecycle) addAdmin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.adminClosed {
		return false
	}
	l.admin.Add(1)
	return true
}

// stopAdmin refuses new admin sockets and waits for the running ones (they
// stop on their own when the master stops).
func (l *lifecycle) stopAdmin() {
	l.mu.Lock()
	l.adminClosed = true
	l.mu.Unlock()
	l.admin.Wait()
}

// Close stops the master and waits until it has stopped: a running Run
// returns (ending every session, as when its context ends); a master that
// was never run closes its socket and store. Every goroutine the master
// started, admin sockets included, has ended when Close returns. Close is
// idempotent and returns the master's result (as Err).
func (m *Master) Close() error {
	m.life.closeOnce.Do(func() {
		m.life.mu.Lock()
		m.life.closed = true
		ran := m.life.started
		m.life.mu.Unlock()
		close(m.life.quitC())
		if !ran {
			close(m.stopping)
			m.life.finish(m.release())
		}
	})
	<-m.life.doneC()
	return m.life.err
}

// Done is closed when the master has stopped (its Run returned, or Close
// released a master that never ran); Err then gives the result.
func (m *Master) Done() <-chan struct{} { return m.life.doneC() }

// Err is the master's result once Done is closed (nil before, and after a
// clean stop).
func (m *Master) Err() error {
	select {
	case <-m.life.doneC():
		return m.life.err
	default:
		return nil
	}
}

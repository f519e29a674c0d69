// Package lifecycle is the start-once, close-many shape the daemons
// (master and node) share: Run may start once, Close may come any number of
// times (before, during or after Run) and waits for the end, and Done/Err
// report the result.
package lifecycle

import "sync"

// Lifecycle tracks one daemon from its New to its end. The zero value is
// ready to use.
type Lifecycle struct {
	mu        sync.Mutex
	started   bool // Start was called
	closed    bool // Close was called
	quit      chan struct{}
	done      chan struct{}
	err       error
	closeOnce sync.Once
	initOnce  sync.Once
}

func (l *Lifecycle) init() {
	l.initOnce.Do(func() {
		l.quit = make(chan struct{})
		l.done = make(chan struct{})
	})
}

// Quit is closed by Close: a running daemon stops.
func (l *Lifecycle) Quit() <-chan struct{} { l.init(); return l.quit }

// Done is closed when the daemon has stopped; Err then gives its result.
func (l *Lifecycle) Done() <-chan struct{} { l.init(); return l.done }

// Start reports whether Run may go on: true on the first call, if Close
// has not come first.
func (l *Lifecycle) Start() bool {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.closed {
		return false
	}
	l.started = true
	return true
}

// Finish records the daemon's result and wakes every waiter. A started
// daemon calls it once, when its Run ends.
func (l *Lifecycle) Finish(err error) {
	l.init()
	l.err = err
	close(l.done)
}

// Close asks the daemon to stop and waits until it has: a started one is
// told through Quit; for one never started, release (if not nil) frees
// what New took and is its result. Close is idempotent and returns the
// daemon's result.
func (l *Lifecycle) Close(release func() error) error {
	l.closeOnce.Do(func() {
		l.init()
		l.mu.Lock()
		l.closed = true
		ran := l.started
		l.mu.Unlock()
		close(l.quit)
		if !ran {
			var err error
			if release != nil {
				err = release()
			}
			l.Finish(err)
		}
	})
	<-l.Done()
	return l.err
}

// Err is the daemon's result once Done is closed (nil before, and after a
// clean stop).
func (l *Lifecycle) Err() error {
	select {
	case <-l.Done():
		return l.err
	default:
		return nil
	}
}

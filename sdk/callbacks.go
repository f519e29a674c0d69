package sdk

import "sync"

// callbackQueue runs the session's event callbacks (node added/gone,
// container gone, exit) one at a time and in order on its own goroutine.
// Queuing never blocks: a slow callback delays only later callbacks, never
// the receive loop and with it the replies to other calls. Events are small
// and few, so the queue is unbounded.
type callbackQueue struct {
	mu    sync.Mutex
	items []func()
	wake  chan struct{} // one pending wake-up
}

func newCallbackQueue() *callbackQueue {
	return &callbackQueue{wake: make(chan struct{}, 1)}
}

// push queues f.
func (q *callbackQueue) push(f func()) {
	q.mu.Lock()
	q.items = append(q.items, f)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run calls the queued callbacks with call until done is closed.
func (q *callbackQueue) run(done <-chan struct{}, call func(func())) {
	for {
		q.mu.Lock()
		items := q.items
		q.items = nil
		q.mu.Unlock()
		for _, f := range items {
			select {
			case <-done:
				return
			default:
			}
			call(f)
		}
		select {
		case <-q.wake:
		case <-done:
			return
		}
	}
}

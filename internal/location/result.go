package location

// result is the outcome of a daemon goroutine: set once, read by any
// number of waiters (a channel of one value can be read only once, which
// made Stop hang after NodeDone had taken the node's result).
type result struct {
	done chan struct{}
	err  error
}

func newResult() *result { return &result{done: make(chan struct{})} }

// set records err and wakes every waiter. It must be called once.
func (r *result) set(err error) {
	r.err = err
	close(r.done)
}

// wait blocks until set and returns its error.
func (r *result) wait() error {
	<-r.done
	return r.err
}

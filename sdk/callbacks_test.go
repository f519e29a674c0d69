package sdk

import (
	"sync"
	"testing"
)

// Pushing never blocks, even with a callback stuck and thousands queued,
// and callbacks run in order.
func TestCallbackQueueNeverBlocksAndKeepsOrder(t *testing.T) {
	q := newCallbackQueue()
	done := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var got []int
	finished := make(chan struct{})
	go func() {
		q.run(done, func(f func()) { f() })
		close(finished)
	}()
	q.push(func() { <-release })
	const n = 10000
	for i := range n {
		q.push(func() { mu.Lock(); got = append(got, i); mu.Unlock() })
	}
	last := make(chan struct{})
	q.push(func() { close(last) })
	close(release)
	<-last
	close(done)
	<-finished
	if len(got) != n {
		t.Fatalf("ran %d callbacks, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("callback %d ran as %d: out of order", i, v)
		}
	}
}

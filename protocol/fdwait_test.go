package protocol

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

var fdwaitSeq atomic.Uint64

// TestFDWaiterSeesSignalBeforeWait: a message that arrives after the last
// ZMQ_EVENTS read but before the wait begins ends the wait at once. The
// poller forgets readiness it saw before a wait; before the fix such a
// signal was lost and the socket slept until its deadline.
func TestFDWaiterSeesSignalBeforeWait(t *testing.T) {
	addr := fmt.Sprintf("inproc://fdwait-%d", fdwaitSeq.Add(1))
	a, err := zmq.NewSocket(zmq.PAIR)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := zmq.NewSocket(zmq.PAIR)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Bind(addr); err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(addr); err != nil {
		t.Fatal(err)
	}
	w, err := newFDWaiter(a)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for round := range 3 {
		// Let the netpoller register the descriptor and see it idle.
		w.wait(time.Now().Add(time.Millisecond))
		if ev, err := a.GetEvents(); err != nil || ev&zmq.POLLIN != 0 {
			t.Fatalf("round %d: events %v, %v before the send", round, ev, err)
		}
		if _, err := b.Send("x", 0); err != nil {
			t.Fatal(err)
		}
		// Give the netpoller time to see the signal's edge (an idle P polls
		// the network) before the wait begins: the case that was lost.
		time.Sleep(20 * time.Millisecond)
		// The signal is now pending on the descriptor; a wait must end at
		// once, not at its deadline.
		deadline := time.Now().Add(10 * time.Second)
		if err := w.wait(deadline); err != nil {
			t.Fatal(err)
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("round %d: the wait ran to its deadline with a message waiting", round)
		}
		if ev, _ := a.GetEvents(); ev&zmq.POLLIN == 0 {
			t.Fatalf("round %d: woken without a message", round)
		}
		if _, err := a.Recv(0); err != nil {
			t.Fatal(err)
		}
	}
}

package protocol

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A call given up on hands its late reply to the late handler, never to
// the waiter that left; without a handler the late reply is dropped.
func TestCallLateGetsTheLateReply(t *testing.T) {
	c := NewCalls()
	var sent *Msg
	send := func(m *Msg) error { sent = m; return nil }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	late := make(chan *Msg, 1)
	err := c.CallLate(ctx, send, "op", Empty{}, nil, nil, func(m *Msg) { late <- m })
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled call: %v, want ErrTimeout", err)
	}
	if !c.Resolve(&Msg{Kind: KindReply, ID: sent.ID}) {
		t.Fatal("late reply not taken")
	}
	select {
	case m := <-late:
		if m.ID != sent.ID {
			t.Fatalf("late got %d", m.ID)
		}
	case <-time.After(10 * time.Second): // a hang bound, not a timing claim
		t.Fatal("late handler not called")
	}
	// Without a handler the reply is forgotten.
	if err := c.Call(ctx, send, "op", Empty{}, nil, nil); !errors.Is(err, ErrTimeout) {
		t.Fatal(err)
	}
	if c.Resolve(&Msg{Kind: KindReply, ID: sent.ID}) {
		t.Fatal("a reply nobody waits for was taken")
	}
}

// FailAll reaches late handlers too, with an error reply.
func TestFailAllReachesLateHandlers(t *testing.T) {
	c := NewCalls()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	late := make(chan *Msg, 1)
	_ = c.CallLate(ctx, func(*Msg) error { return nil }, "op", Empty{}, nil, nil, func(m *Msg) { late <- m })
	c.FailAll(ErrUnavailable)
	m := <-late
	if m.Err == nil || !errors.Is(m.Err, ErrUnavailable) {
		t.Fatalf("late got %v", m.Err)
	}
}

package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tffs/tffs/protocol"
)

// fakeConn stands in for the link to the master: what the Location sends
// is handed to the test, which answers (or not, or out of order) by hand.
// A goodbye is answered at once so Close does not wait.
type fakeConn struct {
	in   chan *protocol.Msg // to the Location
	sent chan *protocol.Msg // requests from the Location

	closed atomic.Bool
}

func (f *fakeConn) Send(m *protocol.Msg) error {
	if f.closed.Load() {
		return fmt.Errorf("link closed: %w", protocol.ErrUnavailable)
	}
	switch m.Kind {
	case protocol.KindBye:
		f.in <- &protocol.Msg{Kind: protocol.KindBye}
	case protocol.KindRequest:
		f.sent <- m
	}
	return nil // pings and acks are dropped
}

func (f *fakeConn) Recv() <-chan *protocol.Msg { return f.in }
func (f *fakeConn) Close()                     { f.closed.Store(true) }

// newFakeLocation makes a Location over a fakeConn, skipping the hello.
func newFakeLocation(t *testing.T) (*Location, *fakeConn) {
	t.Helper()
	f := &fakeConn{in: make(chan *protocol.Msg, 64), sent: make(chan *protocol.Msg, 64)}
	cfg := connectConfig{heartbeat: time.Hour, log: slog.New(slog.DiscardHandler)}
	l := newLocation(cfg, "s-fake", f)
	t.Cleanup(func() { l.Close() })
	return l, f
}

// hangBound bounds every wait of these tests: reaching it is a hang, not a
// slow machine.
const hangBound = 20 * time.Second

// expect returns the next request the Location sent, which must be op.
func (f *fakeConn) expect(t *testing.T, op string) *protocol.Msg {
	t.Helper()
	select {
	case m := <-f.sent:
		if m.Op != op {
			t.Fatalf("request %q, want %q", m.Op, op)
		}
		return m
	case <-time.After(hangBound):
		t.Fatalf("no %q request", op)
		return nil
	}
}

// reply answers request m with body (or err).
func (f *fakeConn) reply(m *protocol.Msg, body any, err error) { f.in <- m.Reply(body, err) }

// event delivers an event from the master.
func (f *fakeConn) event(t *testing.T, op string, body any) {
	t.Helper()
	m := &protocol.Msg{Kind: protocol.KindEvent, Op: op}
	if err := m.SetBody(body); err != nil {
		t.Fatal(err)
	}
	f.in <- m
}

// sync returns once every message delivered before it has been
// dispatched: the receive loop handles messages one at a time, in order.
func (f *fakeConn) sync(t *testing.T, l *Location) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := l.RefreshOffer(context.Background())
		done <- err
	}()
	f.reply(f.expect(t, protocol.OpOffer), protocol.Offer{}, nil)
	if err := recvWithin(t, done); err != nil {
		t.Fatal(err)
	}
}

// recvWithin reads ch within hangBound.
func recvWithin[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangBound):
		t.Fatal("hung")
		var zero T
		return zero
	}
}

// eventually polls cond until it holds, failing at hangBound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// spawnFake spawns container id through the fake, its first boot numbered
// boot; events, if any, are delivered between the request and the reply.
func spawnFake(t *testing.T, l *Location, f *fakeConn, id string, boot int, opts []SpawnOption, before ...func()) *Container {
	t.Helper()
	type res struct {
		c   *Container
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := l.Node().SpawnContainer(context.Background(), "busybox", opts...)
		done <- res{c, err}
	}()
	req := f.expect(t, protocol.OpSpawn)
	for _, b := range before {
		b()
	}
	f.reply(req, protocol.SpawnReply{ID: id, Name: id, Node: "n1", Boot: boot}, nil)
	r := recvWithin(t, done)
	if r.err != nil {
		t.Fatalf("spawn: %v", r.err)
	}
	return r.c
}

// waitCode waits for the container's current boot to exit.
func waitCode(t *testing.T, c *Container) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	code, err := c.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return code
}

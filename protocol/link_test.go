package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// fakeWire connects two link ends through a queue per direction that the
// test can drop from, duplicate and reorder; time is simulated.
type fakeWire struct {
	t      *testing.T
	now    time.Time
	a, b   *linkEnd
	toA    []frame
	toB    []frame
	gotA   [][]byte
	gotB   [][]byte
	down   bool                    // everything sent is lost
	mangle func(q []frame) []frame // applied to each queue before delivery
}

type frame struct {
	h    linkHeader
	data []byte
}

func newFakeWire(t *testing.T) *fakeWire {
	w := &fakeWire{t: t, now: time.Unix(1000, 0)}
	w.a = &linkEnd{link: 7, server: 9,
		out:     func(h linkHeader, d []byte) { w.put(&w.toB, h, d) },
		deliver: func(d []byte) { w.gotA = append(w.gotA, d) }}
	w.b = &linkEnd{link: 7, server: 9,
		out:     func(h linkHeader, d []byte) { w.put(&w.toA, h, d) },
		deliver: func(d []byte) { w.gotB = append(w.gotB, d) }}
	return w
}

func (w *fakeWire) put(q *[]frame, h linkHeader, d []byte) {
	if !w.down {
		*q = append(*q, frame{h, d})
	}
}

// pump delivers queued frames both ways until both queues are empty.
func (w *fakeWire) pump() {
	for i := 0; i < 10000 && (len(w.toA) > 0 || len(w.toB) > 0); i++ {
		qa, qb := w.toA, w.toB
		w.toA, w.toB = nil, nil
		if w.mangle != nil {
			qa, qb = w.mangle(qa), w.mangle(qb)
		}
		for _, f := range qb {
			w.b.receive(f.h, f.data, w.now)
		}
		for _, f := range qa {
			w.a.receive(f.h, f.data, w.now)
		}
	}
}

// advance moves simulated time in tick steps, running both ends' timers.
func (w *fakeWire) advance(d time.Duration) error {
	for end := w.now.Add(d); w.now.Before(end); {
		w.now = w.now.Add(linkTick)
		if err := w.a.tick(w.now); err != nil {
			return err
		}
		if err := w.b.tick(w.now); err != nil {
			return err
		}
		w.pump()
	}
	return nil
}

func msgs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "message %d", i)
	}
	return out
}

func checkGot(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("delivered %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("message %d is %q, want %q", i, got[i], want[i])
		}
	}
}

func TestLinkDeliversInOrderOnce(t *testing.T) {
	w := newFakeWire(t)
	want := msgs(200)
	for _, m := range want {
		if err := w.a.send(m, w.now); err != nil {
			t.Fatal(err)
		}
	}
	w.pump()
	if err := w.advance(time.Second); err != nil {
		t.Fatal(err)
	}
	checkGot(t, w.gotB, want)
	if len(w.a.buf) != 0 {
		t.Fatalf("%d messages still unacknowledged", len(w.a.buf))
	}
}

func TestLinkResendsWhatWasDropped(t *testing.T) {
	w := newFakeWire(t)
	rng := rand.New(rand.NewSource(1))
	w.mangle = func(q []frame) []frame { // lose a quarter of everything, acks included
		var out []frame
		for _, f := range q {
			if rng.Intn(4) != 0 {
				out = append(out, f)
			}
		}
		return out
	}
	want := msgs(300)
	for _, m := range want {
		w.a.send(m, w.now)
		w.pump()
	}
	for i := 0; i < 200 && (len(w.gotB) < len(want) || len(w.a.buf) > 0); i++ {
		if err := w.advance(time.Second); err != nil {
			t.Fatal(err)
		}
	}
	checkGot(t, w.gotB, want)
}

func TestLinkDropsDuplicates(t *testing.T) {
	w := newFakeWire(t)
	w.mangle = func(q []frame) []frame { // every frame arrives twice
		out := make([]frame, 0, 2*len(q))
		for _, f := range q {
			out = append(out, f, f)
		}
		return out
	}
	want := msgs(100)
	for _, m := range want {
		w.a.send(m, w.now)
	}
	w.a.resend(w.now) // and once more, as after a reconnection
	w.pump()
	w.mangle = nil
	if err := w.advance(time.Second); err != nil {
		t.Fatal(err)
	}
	checkGot(t, w.gotB, want)
}

func TestLinkReordersWithinWindow(t *testing.T) {
	w := newFakeWire(t)
	rng := rand.New(rand.NewSource(2))
	w.mangle = func(q []frame) []frame {
		for i := range q { // swap neighbours at random
			if j := i + 1 + rng.Intn(3); j < len(q) && rng.Intn(2) == 0 {
				q[i], q[j] = q[j], q[i]
			}
		}
		return q
	}
	want := msgs(64)
	for _, m := range want {
		w.a.send(m, w.now)
	}
	for i := 0; i < 100 && len(w.gotB) < len(want); i++ {
		w.pump()
		if err := w.advance(time.Second); err != nil {
			t.Fatal(err)
		}
	}
	checkGot(t, w.gotB, want)
}

func TestLinkReconnectMidStream(t *testing.T) {
	w := newFakeWire(t)
	want := msgs(100)
	for _, m := range want[:40] {
		w.a.send(m, w.now)
	}
	w.pump()
	w.down = true // the connection breaks: this and the acks are lost
	for _, m := range want[40:70] {
		w.a.send(m, w.now)
	}
	w.b.send([]byte("reply"), w.now)
	if err := w.advance(time.Second); err != nil { // less than the resend timeout
		t.Fatal(err)
	}
	w.down = false
	// Reconnected: the client asks for a resend, as Dial does on a handshake.
	w.a.sendAck(true)
	w.b.sendAck(true)
	w.pump()
	for _, m := range want[70:] {
		w.a.send(m, w.now)
	}
	w.pump()
	checkGot(t, w.gotB, want)
	checkGot(t, w.gotA, [][]byte{[]byte("reply")})
}

func TestLinkOutageLongerThanTimeoutBreaks(t *testing.T) {
	w := newFakeWire(t)
	w.a.send([]byte("one"), w.now)
	w.pump()
	w.down = true
	w.a.send([]byte("lost"), w.now)
	err := w.advance(LinkTimeout / 2)
	if err != nil {
		t.Fatalf("broke before the bound: %v", err)
	}
	w.down = false // back in time: the resend timer delivers it
	if err := w.advance(3 * linkRTO); err != nil {
		t.Fatal(err)
	}
	checkGot(t, w.gotB, [][]byte{[]byte("one"), []byte("lost")})

	w.down = true
	w.a.send([]byte("never"), w.now)
	err = w.advance(LinkTimeout + time.Second)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("an outage past LinkTimeout gave %v, want ErrUnavailable", err)
	}
}

func TestLinkBufferOverflowIsUnavailable(t *testing.T) {
	w := newFakeWire(t)
	w.down = true
	chunk := make([]byte, MaxChunkSize)
	var err error
	for i := 0; i <= LinkMaxUnackedBytes/len(chunk)+1 && err == nil; i++ {
		err = w.a.send(chunk, w.now)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("overflow gave %v, want ErrUnavailable", err)
	}
}

func TestLinkHeaderRoundTrip(t *testing.T) {
	h := linkHeader{Flags: hdrData, Link: 1 << 60, Server: 3, Seq: 4, Ack: 5}
	got, err := parseLinkHeader(h.bytes())
	if err != nil || got != h {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, make([]byte, linkHdrSize), append([]byte{0x80}, make([]byte, linkHdrSize-1)...), h.bytes()[:10]} {
		if _, err := parseLinkHeader(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("header %x accepted", bad)
		}
	}
}

// A writer waiting for credit that will never come (the reader is gone)
// fails when the stream is closed, instead of blocking for good.
func TestSenderCloseReleasesBlockedWriter(t *testing.T) {
	snd := NewSender(1, Msg{}, func(*Msg) error { return nil })
	done := make(chan error, 1)
	go func() {
		_, err := snd.Write(make([]byte, (Window+1)*ChunkSize))
		done <- err
	}()
	for {
		snd.mu.Lock()
		full := snd.seq == Window
		snd.mu.Unlock()
		if full {
			break
		}
		time.Sleep(time.Millisecond)
	}
	snd.Close(nil)
	if err := <-done; !errors.Is(err, ErrInvalid) {
		t.Fatalf("blocked write ended with %v", err)
	}
}

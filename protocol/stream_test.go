package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// pair connects a sender and a receiver directly, acks included.
func pair() (*Sender, *Receiver) {
	var snd *Sender
	r := NewReceiver(func(seq uint64) { snd.Ack(seq) })
	snd = NewSender(1, Msg{}, func(m *Msg) error { r.Deliver(m); return nil })
	return snd, r
}

// TestStreamAbortFreesSender: a sender blocked on a full window fails with
// ErrAbandoned once the receiver aborts, and writes after that fail too.
func TestStreamAbortFreesSender(t *testing.T) {
	snd, r := pair()
	done := make(chan error, 1)
	go func() {
		_, err := snd.Write(make([]byte, (Window+4)*ChunkSize)) // more than the window: blocks
		done <- err
	}()
	buf := make([]byte, 10)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	r.Abort()
	if err := <-done; !errors.Is(err, ErrAbandoned) {
		t.Fatalf("blocked write: %v, want ErrAbandoned", err)
	}
	if _, err := snd.Write([]byte("x")); !errors.Is(err, ErrAbandoned) {
		t.Fatalf("later write: %v", err)
	}
	if _, err := r.Read(buf); !errors.Is(err, ErrAbandoned) {
		t.Fatalf("read after abort: %v", err)
	}
	select {
	case <-snd.Done():
	default:
		t.Fatal("sender not done after abort")
	}
}

// TestStreamAbortAfterEOF: aborting a finished stream sends nothing.
func TestStreamAbortAfterEOF(t *testing.T) {
	var acks []uint64
	r := NewReceiver(func(seq uint64) { acks = append(acks, seq) })
	r.Deliver(&Msg{Kind: KindData, Seq: 1, Data: []byte("hi"), EOF: true})
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, []byte("hi")) {
		t.Fatalf("read %q, %v", got, err)
	}
	r.Abort()
	for _, a := range acks {
		if a == AbortSeq {
			t.Fatal("abort sent for a stream that had ended")
		}
	}
}

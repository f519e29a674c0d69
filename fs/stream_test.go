package fs

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// readAll reads s through a registered reader until EOF.
func readAll(t *testing.T, s *stream, at *int64) []byte {
	var out []byte
	var pos int64
	for {
		b, err := s.readAt(context.Background(), &pos, 128<<10, false, at)
		if err != nil {
			t.Error(err)
			return out
		}
		if b == nil {
			return out
		}
		out = append(out, b...)
	}
}

// A reader that keeps reading gets every byte of an output stream however
// far the writer runs ahead of the history.
func TestOutputStreamWaitsForReader(t *testing.T) {
	s := newOutputStream()
	var at int64
	s.addReader(&at)
	want := bytes.Repeat([]byte("0123456789abcdef"), 5*historyLimit/16) // 5 histories
	go func() {
		for b := want; len(b) > 0; b = b[min(len(b), 64<<10):] {
			s.Write(b[:min(len(b), 64<<10)])
		}
		s.Close()
	}()
	var got []byte
	var pos int64
	for {
		b, err := s.readAt(context.Background(), &pos, 128<<10, false, &at)
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			break
		}
		got = append(got, b...)
		time.Sleep(time.Millisecond) // a slower reader
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d (missed: %v)", len(got), len(want), strings.Contains(string(got), "bytes missed"))
	}
}

// A reader that stops reading holds the writer back only for lagWait;
// it is then told what it missed, and the writer no longer waits for it.
func TestOutputStreamWaivesStuckReader(t *testing.T) {
	s := newOutputStream()
	s.lagWait = 50 * time.Millisecond
	var at int64
	s.addReader(&at)
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	for i := 0; i < 4*historyLimit/len(chunk); i++ {
		s.Write(chunk)
	}
	s.Close()
	s.mu.Lock()
	waived := s.readers[&at]
	s.mu.Unlock()
	if !waived {
		t.Fatal("the stuck reader is still waited for")
	}
	if got := readAll(t, s, &at); !strings.HasPrefix(string(got), "[tffs: ") {
		t.Fatalf("the stuck reader was not told it missed bytes: %.40q", got)
	}
	// A plain stream (events) never waits.
	e := newStream()
	var eat int64
	e.addReader(&eat)
	for i := 0; i < 4*historyLimit/len(chunk); i++ {
		e.Write(chunk)
	}
}

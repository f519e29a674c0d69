package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// chunkReader hands out its bytes a few at a time, like a fetch stream's
// chunks.
type chunkReader struct {
	data   []byte
	chunk  int
	closed bool
	err    error // returned instead of io.EOF at the end when set
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func (r *chunkReader) Close() error { r.closed = true; return nil }

func fileBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestReadStreamStartsOnSecondReadInRow(t *testing.T) {
	s := newReadStream()
	if _, start := s.called(0, 100, 100); start {
		t.Fatal("a first read started a stream")
	}
	if _, start := s.called(500, 100, 100); start {
		t.Fatal("a read elsewhere started a stream")
	}
	from, start := s.called(600, 100, 100)
	if !start || from != 700 {
		t.Fatalf("second read in a row: start=%v from=%d, want true 700", start, from)
	}
	if _, start := s.called(700, 40, 100); start {
		t.Fatal("a short read (the end of the file) started a stream")
	}
}

func TestReadStreamServesInOrderAndOutOfOrder(t *testing.T) {
	file := fileBytes(3 << 20)
	const from = 1000
	rc := &chunkReader{data: file[from:], chunk: 4096}
	s := newReadStream()
	_, cancel := context.WithCancel(context.Background())
	s.begin(rc, cancel, from, 7, func() {})
	// Out of order: the later read comes first, the earlier one is kept.
	for _, r := range []struct{ off, size int }{{from + 5000, 3000}, {from, 5000}, {from + 8000, 1 << 20}} {
		data, ok := s.read(int64(r.off), r.size, 7, time.Second)
		if !ok {
			t.Fatalf("read %d+%d not served from the stream", r.off, r.size)
		}
		if !bytes.Equal(data, file[r.off:r.off+r.size]) {
			t.Fatalf("read %d+%d: wrong bytes", r.off, r.size)
		}
	}
	// Before the stream's start: a call.
	if _, ok := s.read(0, 10, 7, time.Second); ok {
		t.Fatal("a read before the stream was served from it")
	}
	// Up to the end: a short read, then past the end a call.
	data, ok := s.read(int64(len(file)-10), 100, 7, time.Second)
	if !ok || !bytes.Equal(data, file[len(file)-10:]) {
		t.Fatalf("last bytes: ok=%v len=%d", ok, len(data))
	}
	if _, ok := s.read(int64(len(file)), 100, 7, time.Second); ok {
		t.Fatal("a read past the stream's end was served from it (the file may have grown)")
	}
}

func TestReadStreamEndsOnChangeFarReadAndError(t *testing.T) {
	file := fileBytes(1 << 20)
	for _, tc := range []struct {
		name    string
		off     int64
		changes uint64
		err     error
	}{
		{"a write through the mount", 0, 8, nil},
		{"a read far ahead", streamAhead + 1<<20 + 1, 7, nil},
		{"a broken stream", 0, 7, errors.New("cut")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := file
			if tc.err != nil {
				data = file[:100]
			}
			rc := &chunkReader{data: data, chunk: 4096, err: tc.err}
			s := newReadStream()
			_, cancel := context.WithCancel(context.Background())
			s.begin(rc, cancel, 0, 7, func() {})
			if _, ok := s.read(tc.off, 4096, tc.changes, time.Second); ok {
				t.Fatal("served from the stream")
			}
			if !rc.closed || s.rc != nil {
				t.Fatal("the stream was not ended")
			}
		})
	}
}

// stallReader blocks until its context ends.
type stallReader struct{ ctx context.Context }

func (r stallReader) Read([]byte) (int, error) { <-r.ctx.Done(); return 0, r.ctx.Err() }
func (r stallReader) Close() error             { return nil }

func TestReadStreamStallFallsBackToCalls(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := newReadStream()
	s.begin(stallReader{ctx}, cancel, 0, 1, func() {})
	if _, ok := s.read(0, 10, 1, 50*time.Millisecond); ok {
		t.Fatal("a stalled stream served a read")
	}
	if s.rc != nil {
		t.Fatal("a stalled stream was kept")
	}
}

func TestReadStreamPlacesAreBoundedAndGivenBack(t *testing.T) {
	slots := newStreamSlots()
	for i := range maxReadStreams {
		if !slots.take() {
			t.Fatalf("place %d refused", i)
		}
	}
	if slots.take() {
		t.Fatal("a place past maxReadStreams was given")
	}
	for range maxReadStreams {
		slots.give()
	}
	// A stream gives its place back when it ends, and a second begin
	// (a stream already runs) gives back the place taken for it.
	s := newReadStream()
	_, cancel := context.WithCancel(context.Background())
	slots.take()
	s.begin(&chunkReader{data: fileBytes(1000), chunk: 100}, cancel, 0, 1, slots.give)
	_, cancel2 := context.WithCancel(context.Background())
	slots.take()
	s.begin(&chunkReader{data: fileBytes(1000), chunk: 100}, cancel2, 0, 1, slots.give)
	if len(slots) != 1 {
		t.Fatalf("places taken %d after a refused begin, want 1", len(slots))
	}
	s.end()
	if len(slots) != 0 {
		t.Fatalf("places taken %d after the stream ended, want 0", len(slots))
	}
	s.end() // ending twice gives back nothing more
	if len(slots) != 0 {
		t.Fatalf("places taken %d after a second end", len(slots))
	}
}

func TestReadStreamEndsWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("waits readStreamIdle")
	}
	slots := newStreamSlots()
	slots.take()
	s := newReadStream()
	_, cancel := context.WithCancel(context.Background())
	s.begin(&chunkReader{data: fileBytes(1000), chunk: 100}, cancel, 0, 1, slots.give)
	for deadline := time.Now().Add(readStreamIdle + 10*time.Second); len(slots) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an unread stream kept its place")
		}
	}
	if _, ok := s.read(0, 10, 1, time.Second); ok {
		t.Fatal("a read was served by a stream that ended")
	}
}

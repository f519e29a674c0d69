package fs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"bazil.org/fuse"

	"github.com/tffs/tffs/sdk"
)

// fakeSink records a write stream: where it started, what was written,
// whether it was closed; closeErr is what Close reports.
type fakeSink struct {
	mu       sync.Mutex
	off      int64
	data     bytes.Buffer
	closed   bool
	closeErr error
}

func (s *fakeSink) Write(ctx context.Context, p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.Write(p)
	return len(p), nil
}

func (s *fakeSink) Close(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.off + int64(s.data.Len()), s.closeErr
}

// streamRig is one file's write-behind with a stream opener that records
// the streams it opened.
type streamRig struct {
	c       *ctr
	f       *liveFile
	mu      sync.Mutex
	sinks   []*fakeSink
	failing error // given to the next stream's Close
}

func newStreamRig() *streamRig {
	c := &ctr{f: &FS{log: slog.New(slog.DiscardHandler)}, state: stateRunning}
	return &streamRig{c: c, f: withPath(&liveFile{}, "/tmp/f")}
}

func (r *streamRig) open(off int64) (streamSink, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &fakeSink{off: off, closeErr: r.failing}
	r.sinks = append(r.sinks, s)
	return s, nil
}

// write is what liveHandle.Write does: the stream when the write continues
// the last one, else a call of its own (answered at once here).
func (r *streamRig) write(t *testing.T, off int64, data string) (streamed bool) {
	t.Helper()
	w := &r.f.wb
	handled, err := w.writeStreamed(context.Background(), r.c, r.f, off, []byte(data), r.open)
	if err != nil {
		t.Fatalf("write at %d: %v", off, err)
	}
	if handled {
		return true
	}
	seq, err := w.queue(&r.c.writing, r.f, off, len(data))
	if err != nil {
		t.Fatalf("queue at %d: %v", off, err)
	}
	w.done(&r.c.writing, r.f, seq, nil)
	return false
}

func TestWriteStreamCarriesSequentialWrites(t *testing.T) {
	r := newStreamRig()
	if r.write(t, 0, "aaaa") {
		t.Fatal("the first write went on a stream: only a write continuing another opens one")
	}
	for i, off := range []int64{4, 8, 12} {
		if !r.write(t, off, "bbbb") {
			t.Fatalf("sequential write %d went as a call", i)
		}
	}
	if len(r.sinks) != 1 || r.sinks[0].off != 4 || r.sinks[0].data.String() != "bbbbbbbbbbbb" {
		t.Fatalf("streams %d, first at %d with %q", len(r.sinks), r.sinks[0].off, r.sinks[0].data.String())
	}
	// A write elsewhere ends the stream and goes as a call; the next
	// sequential one opens a new stream.
	if r.write(t, 100, "cc") {
		t.Fatal("a write that does not continue the stream went on it")
	}
	r.f.wb.barrier()
	if !r.sinks[0].closed {
		t.Fatal("the stream was not closed by a write elsewhere")
	}
	if !r.write(t, 102, "dd") || len(r.sinks) != 2 || r.sinks[1].off != 102 {
		t.Fatalf("no new stream after a write elsewhere: %d streams", len(r.sinks))
	}
	// barrier (flush, stat, read...) closes the stream and waits for it.
	r.f.wb.barrier()
	if !r.sinks[1].closed || len(r.f.wb.inflight) != 0 || len(r.c.writing.m) != 0 {
		t.Fatalf("after barrier: closed %v, in flight %d, writing files %d", r.sinks[1].closed, len(r.f.wb.inflight), len(r.c.writing.m))
	}
	if err := r.f.wb.takeErr(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteStreamFailureReportedAtFlush(t *testing.T) {
	r := newStreamRig()
	r.failing = sdk.ErrInvalid
	r.write(t, 0, "aa")
	if !r.write(t, 2, "bb") {
		t.Fatal("no stream")
	}
	r.f.wb.barrier()
	err := r.f.wb.takeErr()
	var en fuse.Errno
	if !errors.As(err, &en) || syscall.Errno(en) != syscall.EINVAL {
		t.Fatalf("flush after a stream that failed: %v, want EINVAL", err)
	}
	// and the failure is reported once
	if err := r.f.wb.takeErr(); err != nil {
		t.Fatalf("second flush: %v", err)
	}
}

func TestWriteStreamNotOverOtherWrites(t *testing.T) {
	r := newStreamRig()
	w := &r.f.wb
	// a write at 8 is still in flight; 0 then 4 open a stream, which may
	// not grow over 8's range: that write goes as a call, after it.
	seq8, err := w.queue(&r.c.writing, r.f, 8, 4)
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, 0, "aaaa")
	if !r.write(t, 4, "bbbb") {
		t.Fatal("no stream")
	}
	handled, err := w.writeStreamed(context.Background(), r.c, r.f, 8, []byte("cccc"), r.open)
	if handled || err != nil {
		t.Fatalf("a write over an in-flight write went on the stream (%v, %v)", handled, err)
	}
	w.done(&r.c.writing, r.f, seq8, nil)
	w.barrier()
	if len(w.inflight) != 0 {
		t.Fatalf("in flight after barrier: %d", len(w.inflight))
	}
}

func TestWriteStreamEndsWhenIdle(t *testing.T) {
	r := newStreamRig()
	r.write(t, 0, "aa")
	if !r.write(t, 2, "bb") {
		t.Fatal("no stream")
	}
	// No barrier: the stream ends by itself after streamIdle.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r.f.wb.lock()
		open, inflight := r.f.wb.stream != nil, len(r.f.wb.inflight)
		r.f.wb.mu.Unlock()
		if !open && inflight == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an idle stream is still open after 10 s (open %v, in flight %d)", open, inflight)
		}
	}
	if !r.sinks[0].closed {
		t.Fatal("the idle stream's sink was not closed")
	}
}

func TestWriteStreamOnlyWhileRunning(t *testing.T) {
	r := newStreamRig()
	r.c.state = stateExited
	r.write(t, 0, "aa")
	if r.write(t, 2, "bb") || len(r.sinks) != 0 {
		t.Fatal("a stream was opened into an exited container")
	}
}

package fs

import (
	"context"
	"sync"
	"time"

	"github.com/tffs/tffs/sdk"
)

// A file written sequentially (a write that starts where the one before it
// ended) is sent on one write stream (sdk.FileWriter) instead of as one
// call a write: the bytes flow as Put's do, with the stream's window as
// flow control. The stream stands in the file's write-behind queue as one
// write whose range grows, so everything writebehind.go promises holds
// for it: a flush, fsync, read, stat, setattr, rename, remove or link
// through the mount ends the stream and waits until the node wrote every
// byte of it, and reports a failure; a write that does not continue the
// stream ends it too and goes as a call of its own. A stream with no
// write for streamIdle ends by itself, so no stream stays open on the
// node while its writer pauses (the node holds the container's root open
// for it). Only a running container's files are written on streams.

// streamIdle ends a write stream that had no write for this long.
const streamIdle = 200 * time.Millisecond

// streamSink is the node's end of a write stream (an *sdk.FileWriter).
type streamSink interface {
	Write(ctx context.Context, p []byte) (int, error)
	Close(ctx context.Context) (int64, error)
}

var _ streamSink = (*sdk.FileWriter)(nil)

// fileStream is a file's open write stream.
type fileStream struct {
	w       streamSink
	seq     uint64 // its entry in the write-behind queue
	end     int64  // where its next byte goes
	f       *liveFile
	c       *ctr
	timeout time.Duration
	idle    *time.Timer // ends the stream after streamIdle without a write

	// send is held by the write sending its bytes; it is taken under the
	// queue's lock, so writes send in the order they were queued.
	send sync.Mutex
}

// writeStreamed sends data, to be written at off, on the file's write
// stream when the write continues the last one; handled is false when the
// write must go as a call of its own (writeBehind.queue). open starts a
// stream at an offset.
func (w *writeBehind) writeStreamed(ctx context.Context, c *ctr, f *liveFile, off int64, data []byte,
	open func(off int64) (streamSink, error)) (handled bool, err error) {
	s, err := w.reserve(c, f, off, len(data), timeoutOf(ctx), open)
	if s == nil || err != nil {
		return s != nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	_, err = s.w.Write(cctx, data)
	cancel()
	s.send.Unlock()
	c.wrote(f.path())
	if err != nil {
		err = c.fail(err)
		w.lock()
		if w.stream == s {
			w.endStream()
		}
		w.mu.Unlock()
		return true, err
	}
	return true, nil
}

// reserve enters [off, off+n) in the stream (opening one when the write
// continues the last) and returns it with its send lock held; nil when
// the write is not one for a stream. An open stream the write does not
// continue is ended.
func (w *writeBehind) reserve(c *ctr, f *liveFile, off int64, n int, timeout time.Duration,
	open func(off int64) (streamSink, error)) (*fileStream, error) {
	w.lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	end := off + int64(n)
	if s := w.stream; s != nil {
		if off == s.end && !w.overlapsOthers(s.seq, off, end) {
			w.grow(s, end)
			s.send.Lock()
			return s, nil
		}
		w.endStream()
		return nil, nil
	}
	if !w.hasLast || off != w.lastEnd || len(w.inflight) >= maxWritesInFlight || w.overlaps(off, end) || !c.running() {
		return nil, nil
	}
	fw, err := open(off)
	if err != nil {
		return nil, nil // the write goes as a call, which reports what is wrong
	}
	w.seq++
	if len(w.inflight) == 0 {
		c.writing.add(f)
	}
	w.inflight = append(w.inflight, writeSpan{seq: w.seq, off: off, end: off})
	s := &fileStream{w: fw, seq: w.seq, end: off, f: f, c: c, timeout: timeout}
	s.idle = time.AfterFunc(streamIdle, func() {
		w.lock()
		if w.stream == s {
			w.endStream()
		}
		w.mu.Unlock()
	})
	w.stream = s
	w.grow(s, end)
	s.send.Lock()
	return s, nil
}

// grow extends stream s's queue entry to end (w.mu held).
func (w *writeBehind) grow(s *fileStream, end int64) {
	s.end = end
	s.idle.Reset(streamIdle)
	w.lastEnd, w.hasLast = end, true
	for i := range w.inflight {
		if w.inflight[i].seq == s.seq {
			w.inflight[i].end = end
		}
	}
}

// overlapsOthers is overlaps, leaving out the queue entry seq.
func (w *writeBehind) overlapsOthers(seq uint64, off, end int64) bool {
	for _, s := range w.inflight {
		if s.seq != seq && off < s.end && s.off < end {
			return true
		}
	}
	return false
}

// endStream detaches the open stream and closes it in the background; its
// queue entry ends when the node wrote every byte (w.mu held).
func (w *writeBehind) endStream() {
	s := w.stream
	if s == nil {
		return
	}
	w.stream = nil
	s.idle.Stop()
	go func() {
		// Writes still sending finish first (the send lock orders them).
		s.send.Lock()
		s.send.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		_, err := s.w.Close(ctx)
		cancel()
		s.c.wrote(s.f.path())
		if err != nil {
			err = s.c.fail(err)
		}
		w.done(&s.c.writing, s.f, s.seq, err)
	}()
}

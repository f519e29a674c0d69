package fs

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// historyLimit is what a stream keeps at least for late readers (it keeps
// up to half as much again between trims).
const historyLimit = 4 << 20

// stream is an append-only byte stream with a bounded history: every reader
// starts at the beginning of what is kept, blocks for more while the stream
// is open, and sees EOF once it is closed and read to the end.
type stream struct {
	mu      sync.Mutex
	buf     []byte // bytes [start, start+len(buf)) of the stream
	start   int64
	closed  bool
	changed chan struct{} // closed and replaced on every write and on close
}

func newStream() *stream { return &stream{changed: make(chan struct{})} }

func (s *stream) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, b...)
	// Trim in steps (at half the limit again), so a long stream costs a
	// copy of the history per 2 MiB written, not per write.
	if len(s.buf) > historyLimit+historyLimit/2 {
		over := len(s.buf) - historyLimit
		s.buf = append(make([]byte, 0, historyLimit+historyLimit/2), s.buf[over:]...)
		s.start += int64(over)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return len(b), nil
}

// size is the stream's length so far (including what history dropped).
func (s *stream) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start + int64(len(s.buf))
}

// errWouldBlock: a non-blocking read at the end of an open stream.
var errWouldBlock = errors.New("no data yet")

// Close ends the stream: readers at the end get EOF.
func (s *stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// Reopen starts a new segment (a reboot): readers block again at the end.
func (s *stream) Reopen() {
	s.mu.Lock()
	s.closed = false
	s.mu.Unlock()
}

// readAt fills at most n bytes from position *pos, blocking until there is
// data, the stream is closed (nil, nil at the end) or ctx ends. A reader
// that fell behind the history is told how much it missed.
func (s *stream) readAt(ctx context.Context, pos *int64, n int, nonblock bool) ([]byte, error) {
	for {
		s.mu.Lock()
		if *pos < s.start {
			missed := s.start - *pos
			*pos = s.start
			s.mu.Unlock()
			return []byte(fmt.Sprintf("[tffs: %d bytes missed]\n", missed)), nil
		}
		end := s.start + int64(len(s.buf))
		if *pos < end {
			b := s.buf[*pos-s.start:]
			if len(b) > n {
				b = b[:n]
			}
			out := append([]byte(nil), b...)
			*pos += int64(len(out))
			s.mu.Unlock()
			return out, nil
		}
		if s.closed {
			s.mu.Unlock()
			return nil, nil
		}
		if nonblock {
			s.mu.Unlock()
			return nil, errWouldBlock
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

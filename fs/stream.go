package fs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// historyLimit is what a stream keeps at least for late readers (it keeps
// up to half as much again between trims).
const historyLimit = 4 << 20

// lagWait is how long a process output stream's writer waits for an open
// reader that would otherwise miss bytes to make progress: while the
// reader keeps reading, the writer (and through the SDK's stream window,
// the container's output) waits for it, so `cat stdout > file` loses
// nothing however fast the container writes; a reader that reads nothing
// for this long (a paused pager, a file held open unread) no longer holds
// the container back, and is told what it missed.
const lagWait = 5 * time.Second

// stream is an append-only byte stream with a bounded history: every reader
// starts at the beginning of what is kept, blocks for more while the stream
// is open, and sees EOF once it is closed and read to the end.
type stream struct {
	mu      sync.Mutex
	buf     []byte // bytes [start, start+len(buf)) of the stream
	start   int64
	closed  bool
	changed chan struct{} // closed and replaced on every write and on close

	// With backpressure, Write waits (up to lagWait without progress) for
	// the open readers, whose positions are kept in readers, before
	// trimming history they have not read.
	backpressure bool
	lagWait      time.Duration
	readers      map[*int64]bool // position → waived: it let lagWait pass unread, so no write waits for it until it reads again
	progress     chan struct{}   // closed and replaced when a reader moves on
}

// newStream is a stream whose writer never waits (events: their writer is
// the session's callback goroutine).
func newStream() *stream { return &stream{changed: make(chan struct{}), progress: make(chan struct{})} }

// newOutputStream is a stream of process output: its writer waits for
// readers that keep reading (see lagWait).
func newOutputStream() *stream {
	s := newStream()
	s.backpressure, s.lagWait = true, lagWait
	s.readers = map[*int64]bool{}
	return s
}

// addReader registers an open reader whose position is *pos (guarded by
// s.mu; readAt moves it); removeReader is called when it closes. Without
// backpressure they do nothing.
func (s *stream) addReader(pos *int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readers != nil {
		*pos = s.start
		s.readers[pos] = false
	}
}

func (s *stream) removeReader(pos *int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.readers, pos)
	s.moved()
}

// moved wakes a writer waiting for readers (s.mu held).
func (s *stream) moved() {
	close(s.progress)
	s.progress = make(chan struct{})
}

// laggards lists the open readers (not waived) whose unread bytes
// appending n bytes would trim from the history (s.mu held).
func (s *stream) laggards(n int) []*int64 {
	keepFrom := s.start + int64(len(s.buf)+n) - historyLimit
	var out []*int64
	for pos, waived := range s.readers {
		if !waived && *pos < keepFrom {
			out = append(out, pos)
		}
	}
	return out
}

func (s *stream) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.backpressure && len(s.buf)+len(b) > historyLimit+historyLimit/2 {
		deadline := time.Now().Add(s.lagWait)
		for lag := s.laggards(len(b)); len(lag) > 0; lag = s.laggards(len(b)) {
			wait := time.Until(deadline)
			if wait <= 0 {
				for _, pos := range lag {
					s.readers[pos] = true
				}
				break
			}
			ch := s.progress
			s.mu.Unlock()
			timer := time.NewTimer(wait)
			select {
			case <-ch:
				deadline = time.Now().Add(s.lagWait) // it moved: wait for it again
			case <-timer.C:
			}
			timer.Stop()
			s.mu.Lock()
		}
	}
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
// that fell behind the history is told how much it missed. mark (if not
// nil) is the reader's position registered with addReader: it moves to
// the end of what was read.
func (s *stream) readAt(ctx context.Context, pos *int64, n int, nonblock bool, mark *int64) ([]byte, error) {
	for {
		s.mu.Lock()
		if *pos < s.start {
			missed := s.start - *pos
			*pos = s.start
			if mark != nil && *pos > *mark {
				*mark = *pos
			}
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
			if mark != nil && *pos > *mark {
				*mark = *pos
				if _, ok := s.readers[mark]; ok {
					s.readers[mark] = false // reading again: waited for again
				}
				s.moved()
			}
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

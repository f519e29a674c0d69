package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/tffs/tffs/sdk"
)

// Sequential reads of a started container's regular file are served from
// one stream instead of a call each: once a read by call continues the one
// before it, the handle asks the node for the rest of the file (FetchRange)
// and serves the reads that follow from it, keeping streamKeep bytes behind
// the furthest read for reads the kernel sends out of order. A read far
// from the stream, a write or setattr of the file through this mount, the
// end of the file or a stream that stalls for the call timeout end it;
// reads then go one call each again until they run in a row once more.
// A process in the container that changes the file while the stream runs
// is seen as a reader of the file in the container would see it: bytes the
// stream has not passed yet show, bytes it passed do not.

// A mount holds at most maxReadStreams streams at once (each keeps up to
// about 12 MiB: streamKeep behind, what a read asks ahead and the SDK
// stream's window), so its read streams hold at most about 400 MiB however
// many files are open; past that, reads go one call each. A stream no
// read used for readStreamIdle ends, so a file held open unread gives its
// place and memory back.

const (
	// maxReadStreams bounds the read streams of one mount.
	maxReadStreams = 32
	// readStreamIdle ends a stream not read for this long.
	readStreamIdle = 5 * time.Second
)

// streamSlots counts a mount's read streams.
type streamSlots chan struct{}

func newStreamSlots() streamSlots { return make(streamSlots, maxReadStreams) }

// take reserves a place for a stream; false when all are taken.
func (s streamSlots) take() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

// give returns a place taken (never more than were taken).
func (s streamSlots) give() {
	select {
	case <-s:
	default:
	}
}

const (
	// streamKeep is how much of the stream is kept behind the furthest read.
	streamKeep = 4 << 20
	// streamAhead is how far past what was received a read may start and
	// still be served from the stream (the rest is read and passed over).
	streamAhead = 8 << 20
)

// readStream is a handle's stream of its file, with what tells when to
// start one.
type readStream struct {
	mu      sync.Mutex
	rc      io.ReadCloser
	cancel  context.CancelFunc
	start   int64  // file offset of buf[0]
	buf     []byte // received and kept
	eof     bool   // the stream reached the end of the file
	changes uint64 // the file's change count when the stream started
	lastEnd int64  // where the last read by call ended (-1: none yet)
	release func() // gives the stream's place back (streamSlots.give)
	idle    *time.Timer
}

func newReadStream() *readStream { return &readStream{lastEnd: -1} }

// read serves [off, off+size) from the stream if it can; ok is false when
// the read must be a call. changes is the file's change count now.
func (s *readStream) read(off int64, size int, changes uint64, timeout time.Duration) (data []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rc == nil {
		return nil, false
	}
	if s.changes != changes {
		s.endLocked()
		return nil, false
	}
	have := s.start + int64(len(s.buf))
	if off < s.start || off > have+streamAhead {
		if off > have+streamAhead {
			s.endLocked()
		}
		return nil, false
	}
	want := off + int64(size)
	if err := s.fill(want, timeout); err != nil {
		s.endLocked()
		return nil, false
	}
	have = s.start + int64(len(s.buf))
	if off >= have { // past the end the stream saw: the file may have grown since
		return nil, false
	}
	end := min(want, have)
	s.idle.Reset(readStreamIdle)
	data = append([]byte(nil), s.buf[off-s.start:end-s.start]...)
	if keepFrom := end - streamKeep; keepFrom > s.start {
		s.buf = s.buf[keepFrom-s.start:]
		s.start = keepFrom
	}
	return data, true
}

// fill receives until the stream holds the bytes up to want or ends.
func (s *readStream) fill(want int64, timeout time.Duration) error {
	stall := time.AfterFunc(timeout, s.cancel)
	defer stall.Stop()
	for !s.eof && s.start+int64(len(s.buf)) < want {
		if cap(s.buf)-len(s.buf) < sdk.MaxIOSize {
			grown := make([]byte, len(s.buf), len(s.buf)+2*sdk.MaxIOSize)
			copy(grown, s.buf)
			s.buf = grown
		}
		n, err := s.rc.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if errors.Is(err, io.EOF) {
			s.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// called records a read by call of n bytes at off (size asked) and says
// where a stream should start: at the end of this read when it continued
// the last one and did not reach the end of the file.
func (s *readStream) called(off int64, n, size int) (from int64, start bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inRow := off == s.lastEnd
	s.lastEnd = off + int64(n)
	return s.lastEnd, inRow && n == size && s.rc == nil
}

// begin makes rc, which starts at from, the stream (unless one began
// meanwhile); release gives its place back when it ends.
func (s *readStream) begin(rc io.ReadCloser, cancel context.CancelFunc, from int64, changes uint64, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rc != nil {
		rc.Close()
		cancel()
		release()
		return
	}
	s.rc, s.cancel, s.start, s.buf, s.eof, s.changes = rc, cancel, from, nil, false, changes
	s.release = release
	s.idle = time.AfterFunc(readStreamIdle, s.end)
}

// end stops the stream, if any.
func (s *readStream) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked()
}

func (s *readStream) endLocked() {
	if s.rc == nil {
		return
	}
	s.rc.Close()
	s.cancel()
	s.idle.Stop()
	s.release()
	s.rc, s.cancel, s.buf, s.eof, s.release, s.idle = nil, nil, nil, false, nil, nil
}

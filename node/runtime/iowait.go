package runtime

import (
	"io"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containerd/containerd/v2/pkg/cio"
)

// ioIdleTimeout is how long, after a process exited, its output copy may
// stay idle (no write in progress, none completed) before we stop waiting
// for it: an orphan that inherited the pipe can keep it open forever,
// while a writer that blocks (flow control) is never cut off.
const ioIdleTimeout = 2 * time.Second

// trackedWriter records whether a Write is in progress and when the last
// one finished.
type trackedWriter struct {
	w    io.Writer
	busy atomic.Int32
	last atomic.Int64 // unix nanoseconds of the last finished Write
}

func newTrackedWriter(w io.Writer) *trackedWriter {
	if w == nil {
		w = io.Discard
	}
	return &trackedWriter{w: w}
}

// Write forwards to the wrapped writer.
func (t *trackedWriter) Write(p []byte) (int, error) {
	t.busy.Add(1)
	n, err := t.w.Write(p)
	t.last.Store(time.Now().UnixNano())
	t.busy.Add(-1)
	return n, err
}

// outputChunk is the largest read from a process's output FIFO: one
// stream chunk (protocol.ChunkSize; runtime does not import protocol).
const outputChunk = 256 << 10

// outputPipeSize is the capacity asked for a process's output FIFO, so a
// fast writer fills whole chunks while the last one is on its way.
const outputPipeSize = 1 << 20

// ReadFrom copies r (containerd's copier hands it the output FIFO) in reads
// of up to outputChunk bytes, each forwarded as one Write: without it the
// copier's 32 KiB buffer cut the output into 32 KiB stream chunks, eight
// times the messages. The FIFO is enlarged first where possible.
func (t *trackedWriter) ReadFrom(r io.Reader) (int64, error) {
	if sc, ok := r.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, outputPipeSize) })
		}
	}
	buf := make([]byte, outputChunk)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := t.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// active reports whether the writer is writing or wrote within d.
func (t *trackedWriter) active(d time.Duration) bool {
	return t.busy.Load() > 0 || time.Since(time.Unix(0, t.last.Load())) < d
}

// waitIO waits until the output of an exited process has been copied. It
// gives up when abort is closed or when the copy has been idle for
// ioIdleTimeout; it reports whether the copy completed.
func waitIO(pio cio.IO, abort <-chan struct{}, writers ...*trackedWriter) bool {
	if pio == nil {
		return true
	}
	done := make(chan struct{})
	go func() { pio.Wait(); close(done) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	idleSince := time.Now()
	for {
		select {
		case <-done:
			return true
		case <-abort:
			return false
		case <-tick.C:
			for _, w := range writers {
				if w.active(ioIdleTimeout) {
					idleSince = time.Now()
				}
			}
			if time.Since(idleSince) > ioIdleTimeout {
				return false
			}
		}
	}
}

package protocol

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
	"golang.org/x/sys/unix"
)

// fdWaiter waits in Go's network poller until a ZeroMQ socket may have
// something to do: libzmq signals its ZMQ_FD (edge-triggered) when the
// socket's state changes. Waiting there, not in zmq_poll, keeps the
// waiting goroutine off an OS thread and lets another goroutine wake it by
// moving the wait's deadline into the past (wake).
//
// The descriptor is a duplicate, so closing it never touches libzmq's.
// Because the signal is an edge, a caller must read ZMQ_EVENTS (which
// also consumes the signal) after every send or receive and before every
// wait, and handle what it says first.
type fdWaiter struct {
	f  *os.File
	rc syscall.RawConn
}

func newFDWaiter(sock *zmq.Socket) (*fdWaiter, error) {
	fd, err := sock.GetFd()
	if err != nil {
		return nil, fmt.Errorf("zmq fd: %w", err)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup zmq fd: %w", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("zmq fd non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(dup), "zmq-fd") // non-blocking: registered with the poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fdWaiter{f: f, rc: rc}, nil
}

// wait returns when the descriptor signals, at the deadline, or when wake
// is called (whichever comes first; a wake before the wait began and
// after its deadline was set ends it at once).
func (w *fdWaiter) wait(deadline time.Time) error {
	if err := w.f.SetReadDeadline(deadline); err != nil {
		return err
	}
	return w.waitSet()
}

// waitSet waits with the deadline already set (setDeadline).
//
// The poller forgets a readiness it saw before the wait began (RawConn.Read
// resets it), so the first call looks at the descriptor itself: libzmq's
// signal that came after the caller's last ZMQ_EVENTS read but before the
// wait is still pending there (ZMQ_EVENTS consumes it), and the wait ends
// at once. Without this look such a signal was lost and the socket slept
// until the deadline: up to linkTick (50 ms) of latency now and then.
func (w *fdWaiter) waitSet() error {
	asked := false
	err := w.rc.Read(func(fd uintptr) bool {
		if !asked {
			asked = true
			return signalled(int(fd))
		}
		return true
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

func (w *fdWaiter) setDeadline(deadline time.Time) error { return w.f.SetReadDeadline(deadline) }

// wake ends a wait now, from any goroutine.
func (w *fdWaiter) wake() { _ = w.f.SetReadDeadline(time.Unix(1, 0)) }

func (w *fdWaiter) close() { w.f.Close() }

// signalled reports whether fd is readable now, without waiting.
func signalled(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0 && pfd[0].Revents&unix.POLLIN != 0
	}
}

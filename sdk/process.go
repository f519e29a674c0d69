package sdk

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tffs/tffs/protocol"
)

// Process is a process started in a container with Spawn.
type Process struct {
	ID     string
	Stdin  io.WriteCloser // closing it sends end-of-file
	Stdout io.Reader      // flow-controlled: an unread stream pauses the process
	Stderr io.Reader

	c       *Container
	streams [3]uint64 // stdin, stdout, stderr stream ids
	done    chan struct{}
	once    sync.Once
	code    int
}

// Spawn starts a process in the container.
func (c *Container) Spawn(ctx context.Context, args []string, opts ...ProcOption) (*Process, error) {
	return c.spawn(ctx, args, true, opts...)
}

// spawn starts a process; withStdin=false gives it an empty stdin (no
// stream, no FIFO), as Run does.
func (c *Container) spawn(ctx context.Context, args []string, withStdin bool, opts ...ProcOption) (*Process, error) {
	l := c.loc
	req := protocol.ExecRequest{Args: args}
	for _, o := range opts {
		o(&req)
	}
	if req.Proc == "" {
		req.Proc = "p" + strconv.FormatUint(l.newID(), 10)
	}
	req.Stdout, req.Stderr = l.newID(), l.newID()
	if withStdin {
		req.Stdin = l.newID()
	}
	p := &Process{ID: req.Proc, c: c, streams: [3]uint64{req.Stdin, req.Stdout, req.Stderr}, done: make(chan struct{})}
	stdout, stderr := l.receiver(req.Stdout, c.ID), l.receiver(req.Stderr, c.ID)
	p.Stdout, p.Stderr = stdout, stderr
	snd := protocol.NewSender(req.Stdin, protocol.Msg{Container: c.ID}, l.conn.Send)
	if withStdin {
		l.streams.AddSender(protocol.StreamKey{ID: req.Stdin}, snd)
	} else {
		snd.Abort(fmt.Errorf("process has no stdin: %w", ErrInvalid))
	}
	p.Stdin = &stdinWriter{snd: snd}
	c.mu.Lock()
	if _, taken := c.procs[p.ID]; taken {
		c.mu.Unlock()
		return nil, fmt.Errorf("process %q: %w", p.ID, ErrExists)
	}
	c.procs[p.ID] = p
	c.mu.Unlock()
	// An exec given up on may still start: its process is killed when the
	// late reply comes, so nothing runs on that nobody reads.
	late := func(m *protocol.Msg) {
		if m.Err == nil {
			l.undo(protocol.OpSignal, protocol.SignalRequest{Proc: req.Proc, Signal: int(syscall.SIGKILL)}, c.ID)
		}
	}
	if err := l.callLate(ctx, protocol.OpExec, req, nil, c.ID, late); err != nil {
		c.mu.Lock()
		delete(c.procs, p.ID)
		c.mu.Unlock()
		c.dropStreams(req.Stdout, req.Stderr, err)
		snd.Abort(err)
		l.streams.Remove(protocol.StreamKey{ID: req.Stdin})
		return nil, fmt.Errorf("run %v: %w", args, err)
	}
	return p, nil
}

type stdinWriter struct {
	snd  *protocol.Sender
	once sync.Once
}

func (w *stdinWriter) Write(b []byte) (int, error) { return w.snd.Write(b) }

func (w *stdinWriter) Close() error {
	var err error
	w.once.Do(func() { err = w.snd.Close(nil) })
	return err
}

func (c *Container) procExited(id string, code int) {
	c.mu.Lock()
	p := c.procs[id]
	delete(c.procs, id)
	c.mu.Unlock()
	if p != nil {
		p.finish(code)
	}
}

func (p *Process) finish(code int) {
	p.once.Do(func() {
		p.code = code
		close(p.done)
		if w, ok := p.Stdin.(*stdinWriter); ok {
			w.snd.Abort(fmt.Errorf("process exited: %w", ErrBusy))
		}
		// Output has all arrived: the node ends the streams before it reports the exit.
		for _, id := range p.streams {
			p.c.loc.streams.Remove(protocol.StreamKey{ID: id})
		}
	})
}

// killTimeout bounds the kill of a process whose caller gave up on it.
const killTimeout = 5 * time.Second

// Wait blocks until the process exits and returns its exit code.
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		if p.code < 0 {
			return p.code, fmt.Errorf("process %s: container gone or link to the master reset: %w", p.ID, ErrUnavailable)
		}
		return p.code, nil
	case <-ctx.Done():
		return -1, fmt.Errorf("wait: %v: %w", ctx.Err(), ErrTimeout)
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL to the process.
func (p *Process) Kill(ctx context.Context) error { return p.Signal(ctx, syscall.SIGKILL) }

// Signal sends a signal to the process.
func (p *Process) Signal(ctx context.Context, sig syscall.Signal) error {
	return p.c.loc.call(ctx, protocol.OpSignal, protocol.SignalRequest{Proc: p.ID, Signal: int(sig)}, nil, p.c.ID)
}

// Resize changes the size of the process's terminal (TTY processes only).
func (p *Process) Resize(ctx context.Context, width, height uint32) error {
	return p.c.loc.call(ctx, protocol.OpResize, protocol.ResizeRequest{Proc: p.ID, Width: width, Height: height}, nil, p.c.ID)
}

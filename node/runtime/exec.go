package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// ExecSpec describes a process to run in a running container.
type ExecSpec struct {
	Args   []string  // required
	Env    []string  // KEY=VALUE, override/extend the container's env
	Cwd    string    // "" = the container's working dir
	TTY    bool      // allocate a terminal (stderr is then merged into stdout)
	Stdin  io.Reader // nil = no stdin; at EOF the process's stdin is closed
	Stdout io.Writer // nil = discarded
	Stderr io.Writer // nil = discarded
}

// Process is a process started with Exec.
type Process struct {
	c      *Container
	id     string
	proc   client.Process
	stdin  *stdinCloser // nil without Stdin
	exited chan struct{}
	code   int
	err    error
}

// Exec starts a process in the container's running main task. A container
// without a running task is ErrBusy.
func (c *Container) Exec(ctx context.Context, spec ExecSpec) (*Process, error) {
	if len(spec.Args) == 0 {
		return nil, fmt.Errorf("exec: no command: %w", ErrInvalid)
	}
	b, err := c.runningBoot()
	if err != nil {
		return nil, err
	}
	ctx = c.r.nsCtx(ctx)
	base, err := c.ctr.Spec(ctx)
	if err != nil {
		return nil, wrapErr(err, "container spec "+c.id)
	}
	ps := *base.Process
	ps.Args = spec.Args
	ps.Env = mergeEnv(base.Process.Env, spec.Env)
	if spec.Cwd != "" {
		ps.Cwd = spec.Cwd
	}
	ps.Terminal = spec.TTY
	ps.ConsoleSize = nil

	if err := b.execLands(); err != nil {
		return nil, fmt.Errorf("exec in %s refused: %w", c.id, err)
	}
	id := fmt.Sprintf("exec-%d", c.execSeq.Add(1))
	// The output is held back until the process was found inside the
	// container (checkContained).
	g := newGate()
	out, errw := newTrackedWriter(g.writer(spec.Stdout)), newTrackedWriter(g.writer(spec.Stderr))
	var stdin *stdinCloser
	var in io.Reader
	if spec.Stdin != nil {
		stdin = newStdinCloser(c.r.nsCtx(context.Background()), spec.Stdin)
		in = stdin
	}
	opts := []cio.Opt{cio.WithStreams(in, out, errw), cio.WithFIFODir(fifoDir(c.r.cfg.StateDir))}
	if spec.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	proc, err := b.task.Exec(ctx, id, &ps, cio.NewCreator(opts...))
	if err != nil {
		g.open(false)
		if stdin != nil {
			stdin.set(nil)
		}
		return nil, wrapErr(err, "exec in "+c.id)
	}
	statusC, err := proc.Wait(c.r.nsCtx(context.Background()))
	if err == nil {
		// Not the caller's context: containerd's Start, when its call
		// fails, waits for the process's output copiers, and those wait
		// at the gate, which opens only after Start returns. A start that
		// goes through although the caller gave up is the caller's to
		// undo (the SDK kills a late exec).
		sctx, cancel := c.r.bgCtx()
		err = proc.Start(sctx)
		cancel()
	}
	if err == nil {
		err = c.contain(proc, b)
	}
	if err != nil {
		g.open(false)
		if stdin != nil {
			stdin.set(nil)
		}
		c.deleteProcess(proc)
		return nil, wrapErr(err, "start exec in "+c.id)
	}
	g.open(true)
	if stdin != nil {
		// Only now: the shim opens its end of the stdin FIFO at start,
		// so closing stdin before would be lost.
		stdin.set(proc)
	}
	p := &Process{c: c, id: id, proc: proc, stdin: stdin, exited: make(chan struct{})}
	b.execs.Add(1)
	go func() {
		defer b.execs.Done()
		st := <-statusC
		code, _, err := st.Result()
		waitIO(proc.IO(), b.abort, out, errw)
		c.deleteProcess(proc)
		p.code, p.err = int(code), err
		close(p.exited)
	}()
	return p, nil
}

// contain verifies that a started exec process is inside the container:
// the same namespaces and root directory as the main process. A process
// that already exited cannot be inspected; it was started the same way
// as one that can, and b.execLands proved that this way lands inside.
func (c *Container) contain(proc client.Process, b *boot) error {
	err := checkContained(int(proc.Pid()), int(b.pid))
	if errors.Is(err, errGone) || testNoChecks {
		return nil
	}
	if err != nil {
		c.r.log.Error("exec'd process escaped its container, killed", "id", c.id, "err", err)
	}
	return err
}

// deleteProcess deletes an exec process and makes sure its FIFOs are gone.
func (c *Container) deleteProcess(proc client.Process) {
	ctx, cancel := c.r.bgCtx()
	defer cancel()
	if _, err := proc.Delete(ctx, client.WithProcessKill); err != nil {
		if pio := proc.IO(); pio != nil {
			pio.Cancel()
			_ = pio.Close()
		}
	}
}

// ID returns the process's exec id (unique within its container).
func (p *Process) ID() string { return p.id }

// Wait waits for the process to exit and returns its exit code
// (128+signal when killed by a signal).
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.exited:
		return p.code, p.err
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// Exited returns a channel closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Kill sends sig to the process.
func (p *Process) Kill(ctx context.Context, sig syscall.Signal) error {
	return wrapErr(p.proc.Kill(p.c.r.nsCtx(ctx), sig), "kill "+p.id)
}

// Resize sets the terminal size of a TTY process.
func (p *Process) Resize(ctx context.Context, w, h uint32) error {
	return wrapErr(p.proc.Resize(p.c.r.nsCtx(ctx), w, h), "resize "+p.id)
}

// CloseStdin closes the process's stdin (it reads EOF), even while the
// Stdin reader is blocked.
func (p *Process) CloseStdin(ctx context.Context) error {
	if p.stdin != nil {
		p.stdin.close()
	}
	return wrapErr(p.proc.CloseIO(p.c.r.nsCtx(ctx), client.WithStdinCloser), "close stdin of "+p.id)
}

// stdinCloser feeds a process's stdin from a reader through a pipe, so
// that CloseStdin can end it even while the reader blocks. At EOF it also
// closes the process's stdin in the shim (which keeps its own end of the
// stdin FIFO open, so closing ours is not enough).
type stdinCloser struct {
	pr    *io.PipeReader
	pw    *io.PipeWriter
	ctx   context.Context
	ready chan struct{}
	once  sync.Once
	proc  client.Process
}

func newStdinCloser(ctx context.Context, src io.Reader) *stdinCloser {
	pr, pw := io.Pipe()
	s := &stdinCloser{pr: pr, pw: pw, ctx: ctx, ready: make(chan struct{})}
	go func() {
		_, err := io.Copy(pw, src)
		pw.CloseWithError(err) // nil error: EOF
	}()
	return s
}

// set records the started process (nil if it never started).
func (s *stdinCloser) set(p client.Process) {
	s.once.Do(func() { s.proc = p; close(s.ready) })
}

// Read is called by the FIFO copier; at EOF it closes the process stdin.
func (s *stdinCloser) Read(b []byte) (int, error) {
	n, err := s.pr.Read(b)
	if err != nil {
		<-s.ready
		if s.proc != nil {
			_ = s.proc.CloseIO(s.ctx, client.WithStdinCloser)
		}
		if err != io.EOF {
			err = io.EOF // a failing reader ends stdin like EOF
		}
	}
	return n, err
}

// close ends stdin now, whatever the reader does.
func (s *stdinCloser) close() { s.pw.Close() }

// mergeEnv returns base with each KEY=VALUE of over replacing the entry
// with the same key or appended.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range out {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

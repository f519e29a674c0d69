package runtime

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
)

// boot is one run of a container's main task.
type boot struct {
	task   client.Task
	pid    uint32
	exited chan struct{} // closed after the task exited and was deleted
	abort  chan struct{} // closed to stop waiting for output
	once   sync.Once
	code   int
	err    error
	execs  sync.WaitGroup // exec process watchers of this boot

	landOnce sync.Once // checkExecLands, once per boot
	landErr  error
}

// execLands reports (once per boot) whether a process exec'd in this boot
// lands inside the container (see checkExecLands).
func (b *boot) execLands() error {
	b.landOnce.Do(func() {
		if !testNoChecks {
			b.landErr = checkExecLands(int(b.pid))
		}
	})
	return b.landErr
}

func (b *boot) isExited() bool {
	select {
	case <-b.exited:
		return true
	default:
		return false
	}
}

func (b *boot) stopIOWait() { b.once.Do(func() { close(b.abort) }) }

// Start creates and starts the main task. Its stdout and stderr are copied
// to the writers (nil = discarded); a writer that blocks holds the
// container's output back (flow control). Starting a running container is
// ErrBusy; starting an exited one runs it again on the same filesystem.
func (c *Container) Start(ctx context.Context, stdout, stderr io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkStartable(); err != nil {
		return err
	}
	return c.startBoot(ctx, stdout, stderr)
}

func (c *Container) checkStartable() error {
	if c.destroyed {
		return fmt.Errorf("container %s: %w", c.id, ErrNotFound)
	}
	if c.boot != nil && !c.boot.isExited() {
		return fmt.Errorf("container %s is running: %w", c.id, ErrBusy)
	}
	return nil
}

// startBoot starts a new main task; c.mu is held.
func (c *Container) startBoot(ctx context.Context, stdout, stderr io.Writer) error {
	ctx = c.r.nsCtx(ctx)
	out, errw := newTrackedWriter(stdout), newTrackedWriter(stderr)
	creator := cio.NewCreator(cio.WithStreams(nil, out, errw), cio.WithFIFODir(fifoDir(c.r.cfg.StateDir)))
	task, err := c.ctr.NewTask(ctx, creator)
	if err != nil {
		return wrapErr(err, "create task "+c.id)
	}
	bg := c.r.nsCtx(context.Background())
	statusC, err := task.Wait(bg)
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		dctx, cancel := c.r.bgCtx()
		defer cancel()
		if _, derr := task.Delete(dctx, client.WithProcessKill); derr != nil {
			if pio := task.IO(); pio != nil {
				pio.Cancel()
				_ = pio.Close()
			}
		}
		return wrapErr(err, "start task "+c.id)
	}
	b := &boot{task: task, pid: task.Pid(), exited: make(chan struct{}), abort: make(chan struct{})}
	c.boot = b
	go c.watch(b, statusC, out, errw)
	c.r.log.Info("container started", "id", c.id, "pid", b.pid)
	return nil
}

// watch waits for the main task to exit, lets its output drain, deletes
// the task and records the exit code.
func (c *Container) watch(b *boot, statusC <-chan client.ExitStatus, out, errw *trackedWriter) {
	st := <-statusC
	code, _, err := st.Result()
	waitIO(b.task.IO(), b.abort, out, errw)
	ctx, cancel := c.r.bgCtx()
	defer cancel()
	if _, derr := b.task.Delete(ctx); derr != nil && !errdefs.IsNotFound(derr) {
		c.r.log.Warn("delete task", "id", c.id, "err", derr)
		if _, derr := b.task.Delete(ctx, client.WithProcessKill); derr != nil {
			if pio := b.task.IO(); pio != nil {
				pio.Cancel()
				_ = pio.Close()
			}
		}
	}
	b.code, b.err = int(code), err
	c.r.log.Info("container exited", "id", c.id, "code", code)
	close(b.exited)
}

// stopBoot stops the current main task (SIGTERM, then SIGKILL after
// grace; grace 0 kills at once) and waits until it is deleted; c.mu is held.
func (c *Container) stopBoot(ctx context.Context, grace time.Duration) error {
	b := c.boot
	if b == nil {
		return nil
	}
	// Stopping is cleanup: it goes on (bounded) when the caller's context
	// is already cancelled, as during a node's shutdown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.nsCtx(ctx)), grace+30*time.Second)
	defer cancel()
	if grace > 0 && !b.isExited() {
		_ = b.task.Kill(ctx, syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(grace):
		}
	}
	if !b.isExited() {
		_ = b.task.Kill(ctx, syscall.SIGKILL, client.WithKillAll)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
		}
	}
	b.stopIOWait()
	select {
	case <-b.exited:
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", c.id, ctx.Err())
	}
	execsDone := make(chan struct{})
	go func() { b.execs.Wait(); close(execsDone) }()
	select {
	case <-execsDone:
	case <-time.After(10 * time.Second):
		c.r.log.Warn("exec processes still being cleaned up", "id", c.id)
	}
	return nil
}

// Wait waits for the main task of the current boot to exit and returns its
// exit code (128+signal when killed by a signal). It fails with ErrBusy if
// the container was never started.
func (c *Container) Wait(ctx context.Context) (int, error) {
	c.mu.Lock()
	b := c.boot
	c.mu.Unlock()
	if b == nil {
		return -1, fmt.Errorf("container %s not started: %w", c.id, ErrBusy)
	}
	select {
	case <-b.exited:
		return b.code, b.err
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// Exited returns a channel closed when the current boot's main task has
// exited (and its output was delivered). Before the first Start it returns
// nil (a channel that never becomes ready); a later boot has a new channel.
func (c *Container) Exited() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.boot == nil {
		return nil
	}
	return c.boot.exited
}

// Pid returns the host pid of the running main task, or 0.
func (c *Container) Pid() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.boot == nil || c.boot.isExited() {
		return 0
	}
	return c.boot.pid
}

// runningBoot returns the current boot if its main task is running.
func (c *Container) runningBoot() (*boot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return nil, fmt.Errorf("container %s: %w", c.id, ErrNotFound)
	}
	if c.boot == nil || c.boot.isExited() {
		return nil, fmt.Errorf("container %s has no running task: %w", c.id, ErrBusy)
	}
	return c.boot, nil
}

// Kill sends sig to the main task.
func (c *Container) Kill(ctx context.Context, sig syscall.Signal) error {
	b, err := c.runningBoot()
	if err != nil {
		return err
	}
	return wrapErr(b.task.Kill(c.r.nsCtx(ctx), sig), "kill "+c.id)
}

// Reboot stops the main task (SIGTERM, SIGKILL after StopGrace) and starts
// a new one on the same snapshot: the filesystem is kept.
func (c *Container) Reboot(ctx context.Context, stdout, stderr io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return fmt.Errorf("container %s: %w", c.id, ErrNotFound)
	}
	if err := c.stopBoot(ctx, StopGrace); err != nil {
		return err
	}
	return c.startBoot(ctx, stdout, stderr)
}

// Reset stops the main task, replaces the container's snapshot with a
// fresh one from the image, writes the pre-boot files again and starts a
// new main task.
func (c *Container) Reset(ctx context.Context, stdout, stderr io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return fmt.Errorf("container %s: %w", c.id, ErrNotFound)
	}
	if err := c.stopBoot(ctx, StopGrace); err != nil {
		return err
	}
	if err := c.resetSnapshot(ctx); err != nil {
		return err
	}
	if err := c.writePreboot(ctx); err != nil {
		return err
	}
	return c.startBoot(ctx, stdout, stderr)
}

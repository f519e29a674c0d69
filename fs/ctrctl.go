package fs

import (
	"context"
	"strconv"
	"strings"
	"syscall"
)

// ctl carries out one command written to the container's ctl.
func (c *ctr) ctl(ctx context.Context, line string) error {
	verb, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	switch verb {
	case "start":
		switch rest {
		case "":
			return c.start(ctx, false)
		case "asleep":
			return c.start(ctx, true)
		}
		return c.fail(failf(syscall.EINVAL, "ctl: start takes nothing or \"asleep\", not %q", rest))
	case "run":
		args, err := splitCommand(rest)
		if err != nil {
			return c.fail(err)
		}
		if len(args) == 0 {
			return c.fail(failf(syscall.EINVAL, "ctl: run needs a command"))
		}
		c.mu.Lock()
		c.nextProc++
		name := strconv.Itoa(c.nextProc)
		for c.procs[name] != nil {
			c.nextProc++
			name = strconv.Itoa(c.nextProc)
		}
		p := newProc(c, name)
		p.cmd = rest
		c.mu.Unlock()
		if err := p.start(ctx); err != nil {
			p.mu.Lock()
			why := p.errMsg
			p.mu.Unlock()
			c.mu.Lock()
			c.errMsg = why
			c.mu.Unlock()
			return err
		}
		c.mu.Lock()
		c.procs[name] = p
		c.last = name
		c.mu.Unlock()
		return nil
	case "reboot", "reset":
		sc := c.started()
		if sc == nil || c.isDestroyed() {
			return c.fail(failf(syscall.EBUSY, "ctl: %s: the container is not started", verb))
		}
		cctx, cancel := callCtx(ctx)
		defer cancel()
		c.mu.Lock()
		c.stdout.Reopen()
		c.stderr.Reopen()
		if c.exitDone {
			c.exitCh, c.exitDone = make(chan struct{}), false
		}
		c.state = stateRunning
		c.gen++
		gen := c.gen
		c.mu.Unlock()
		var err error
		if verb == "reboot" {
			err = sc.Reboot(cctx)
		} else {
			err = sc.Reset(cctx)
		}
		if err != nil {
			return c.fail(err)
		}
		if verb == "reset" {
			c.forgetFiles() // the container's files are the image's again
		}
		go c.watchExit(sc, gen)
		c.f.emit("started", "container", c.name, "how", verb)
		return nil
	case "stop":
		sc := c.started()
		if sc == nil || c.isDestroyed() {
			return c.fail(failf(syscall.EBUSY, "ctl: stop: the container is not running"))
		}
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if err := sc.Signal(cctx, syscall.SIGKILL); err != nil {
			return c.fail(err)
		}
		return nil
	case "destroy":
		if err := c.destroy(ctx); err != nil {
			return c.fail(err)
		}
		return nil
	case "allow", "disallow", "tunnel", "untunnel":
		return c.netCtl(ctx, verb, rest)
	}
	return c.fail(failf(syscall.EINVAL, "ctl: unknown command %q (start, run, reboot, reset, stop, destroy, allow, disallow, tunnel, untunnel)", verb))
}

package fs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"syscall"

	"github.com/tffs/tffs/sdk"
)

func (c *ctr) isDestroyed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateDestroyed
}

// start spawns the container from what was written; on failure it stays new.
func (c *ctr) start(ctx context.Context, asleep bool) error {
	c.mu.Lock()
	if c.state != stateNew {
		st := c.state
		c.mu.Unlock()
		return c.fail(failf(syscall.EBUSY, "ctl: start: the container is already %s", st))
	}
	if strings.TrimSpace(c.image) == "" {
		c.mu.Unlock()
		return c.fail(failf(syscall.EINVAL, "ctl: start: no image (write one to image first)"))
	}
	image := strings.TrimSpace(c.image)
	args, err := splitCommand(c.cmd)
	if err != nil {
		c.mu.Unlock()
		return c.fail(err)
	}
	opts := []sdk.SpawnOption{sdk.Name(c.name),
		sdk.OnStdout(func(b []byte) { c.stdout.Write(b) }),
		sdk.OnStderr(func(b []byte) { c.stderr.Write(b) }),
	}
	if len(args) > 0 {
		opts = append(opts, sdk.Command(args...))
	}
	if env := envLines(c.env); len(env) > 0 {
		opts = append(opts, sdk.Env(env...))
	}
	if asleep {
		opts = append(opts, sdk.Asleep())
	}
	if tag := strings.TrimSpace(c.tag); tag != "" {
		opts = append(opts, sdk.Tag(tag))
	}
	mounts, err := parseVolumeLines(c.volumes)
	if err != nil {
		c.mu.Unlock()
		return c.fail(err)
	}
	opts = append(opts, mounts...)
	paths := make([]string, 0, len(c.pre))
	for p := range c.pre {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	pre := make([]*preEntry, len(paths))
	for i, p := range paths {
		pre[i] = c.pre[p]
	}
	// The container is made held, the pre-boot files are put into it
	// (streamed from their spools), then it is started. While "starting",
	// the pre-boot entries change no more.
	opts = append(opts, sdk.Held())
	c.state = stateStarting
	c.mu.Unlock()
	undo := func(err error) error {
		c.mu.Lock()
		c.state = stateNew
		c.mu.Unlock()
		return c.fail(err)
	}

	node := c.f.loc.Node()
	if len(mounts) > 0 {
		node = c.f.loc.AnyNode() // the location places it with its volumes
	}
	if c.parent != "any" {
		n, err := c.f.loc.NodeNamed(c.parent)
		if err != nil {
			return undo(err)
		}
		node = n
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	sc, err := node.SpawnContainer(cctx, image, opts...)
	if err != nil {
		return undo(err)
	}
	if err == nil {
		err = putPreBoot(ctx, sc, paths, pre)
	}
	if err == nil {
		scctx, cancel := callCtx(ctx)
		err = sc.Start(scctx)
		cancel()
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeoutOf(ctx))
		if derr := sc.Destroy(dctx); derr != nil {
			c.f.log.Warn("destroy of a container whose start failed", "container", c.name, "err", derr)
		}
		cancel()
		return undo(err)
	}
	c.mu.Lock()
	c.c, c.node = sc, sc.Node
	if c.state == stateStarting {
		c.state = stateRunning
	}
	// The pre-boot entries are the container's files now: their spools
	// (temporary files of this host) go.
	for _, e := range c.pre {
		e.body.close()
	}
	c.pre = map[string]*preEntry{}
	gen := c.gen
	c.mu.Unlock()
	go c.watchExit(sc, gen)
	c.f.emit("started", "container", c.name, "node", sc.Node)
	go func() {
		select {
		case <-sc.Gone():
			c.markDestroyed()
		case <-c.f.quit:
		}
	}()
	return nil
}

// watchExit waits for boot gen's main process to exit (it returns early
// when the container goes: markDestroyed covers that).
func (c *ctr) watchExit(sc *sdk.Container, gen int) {
	if code, err := sc.Wait(context.Background()); err == nil {
		c.exited(gen, code)
	}
}

// exited records that boot gen's main process exited; an earlier boot's
// exit, arriving after a reboot, changes nothing.
func (c *ctr) exited(gen, code int) {
	c.mu.Lock()
	if gen != c.gen {
		c.mu.Unlock()
		return // an earlier boot's
	}
	if c.state != stateDestroyed {
		c.state, c.code = stateExited, code
	}
	if !c.exitDone {
		c.exitDone = true
		close(c.exitCh)
	}
	c.mu.Unlock()
	c.stdout.Close()
	c.stderr.Close()
	c.f.emit("exited", "container", c.name, "code", code)
}

func (c *ctr) markDestroyed() {
	c.mu.Lock()
	if c.state == stateDestroyed {
		c.mu.Unlock()
		return
	}
	c.state = stateDestroyed
	if !c.exitDone {
		c.exitDone = true
		close(c.exitCh)
	}
	procs := make([]*proc, 0, len(c.procs))
	for _, p := range c.procs {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	c.stdout.Close()
	c.stderr.Close()
	for _, p := range procs {
		p.closeStreams()
	}
	c.f.emit("destroyed", "container", c.name)
	c.closeTunnels()
}

// destroy removes the container from the location (a new one just goes).
func (c *ctr) destroy(ctx context.Context) error {
	c.mu.Lock()
	sc, st := c.c, c.state
	c.mu.Unlock()
	if st == stateStarting {
		return failf(syscall.EBUSY, "destroy: the container is starting")
	}
	if sc != nil && st != stateDestroyed {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if err := sc.Destroy(cctx); err != nil {
			return err
		}
	}
	c.markDestroyed()
	return nil
}

// wait blocks until the main process exits and returns its code.
func (c *ctr) wait(ctx context.Context) (string, error) {
	c.mu.Lock()
	st, ch := c.state, c.exitCh
	c.mu.Unlock()
	if st == stateNew {
		return "", c.fail(failf(syscall.EBUSY, "wait: the container is not started"))
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDestroyed && c.code == 0 {
		return "destroyed\n", nil
	}
	return fmt.Sprintf("%d\n", c.code), nil
}

package fs

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// ctr is one container of the session, from mkdir to rmdir.
type ctr struct {
	f      *FS
	name   string
	parent string // the nodes/ directory it was made in
	link   *symlink

	mu       sync.Mutex
	image    string
	cmd, env string
	tag      string
	volumes  string // NAME /mount/point lines (volumes.go)
	gen      int    // the boot this directory shows; bumped by reboot and reset
	state    string // new, starting, running, exited, destroyed
	code     int
	c        *sdk.Container
	node     string
	pre      map[string]*preEntry // pre-boot files by absolute path
	stdout   *stream
	stderr   *stream
	exitCh   chan struct{} // closed when the current boot's main process exits
	exitDone bool
	errMsg   string
	procs    map[string]*proc
	last     string
	nextProc int
	views    map[string]*ctrDir
	imgView  imageView     // the image's tree before start
	stats    statCache     // file information of the started container (liveattr.go)
	writing  writingFiles  // files with writes on their way to the node (writebehind.go)
	writes   atomic.Uint64 // writes that reached the node (or failed): a stat begun before one is not kept
}

func newCtr(f *FS, name, parent string) *ctr {
	c := &ctr{f: f, name: name, parent: parent, state: "new", pre: map[string]*preEntry{},
		procs: map[string]*proc{}, views: map[string]*ctrDir{},
		stdout: newOutputStream(), stderr: newOutputStream(), exitCh: make(chan struct{})}
	c.link = &symlink{target: func() string { return "../nodes/" + parent + "/" + name }}
	return c
}

func (c *ctr) realNode() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node
}

// fail records why a write was rejected and returns its errno.
func (c *ctr) fail(err error) error {
	c.mu.Lock()
	c.errMsg = err.Error()
	c.mu.Unlock()
	c.f.log.Info("rejected", "container", c.name, "err", err)
	return errno(err)
}

func (c *ctr) status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == "exited" {
		return fmt.Sprintf("exited %d\n", c.code)
	}
	return c.state + "\n"
}

// started reports the sdk container once the container runs (or ran).
func (c *ctr) started() *sdk.Container {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == "new" || c.state == "starting" {
		return nil
	}
	return c.c
}

// setProp returns a setter for a property writable only before start.
func (c *ctr) setProp(what string, p *string, check func(string) error) func(string) error {
	return func(v string) error {
		if check != nil {
			if err := check(v); err != nil {
				return c.fail(err)
			}
		}
		c.mu.Lock()
		if c.state != "new" {
			st := c.state
			c.mu.Unlock()
			return c.fail(failf(syscall.EBUSY, "%s: cannot change %s: the container is %s", c.name, what, st))
		}
		*p = v
		c.mu.Unlock()
		return nil
	}
}

func (c *ctr) getProp(p *string) func() string {
	return func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		return *p
	}
}

// view is the container's directory as seen under one parent directory;
// each parent has its own nodes so that no directory has two parents.
func (c *ctr) view(parent string) *ctrDir {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.views[parent]; v != nil {
		return v
	}
	v := &ctrDir{c: c, files: map[string]fusefs.Node{}}
	notYet := func(what string) *propFile {
		return &propFile{get: func() string { return "" }, set: func(string) error {
			return c.fail(failf(syscall.ENOTSUP, "%s: %v", what, errNotSup))
		}}
	}
	_ = notYet // for the parts not built yet
	v.entries = []dirEntry{
		{"image", &propFile{get: c.getProp(&c.image), set: c.setProp("image", &c.image, nil)}, fuse.DT_File},
		{"cmd", &propFile{get: c.getProp(&c.cmd), set: c.setProp("cmd", &c.cmd, func(s string) error {
			_, err := splitCommand(s)
			return err
		})}, fuse.DT_File},
		{"env", &propFile{get: c.getProp(&c.env), set: c.setProp("env", &c.env, checkEnv)}, fuse.DT_File},
		{"tag", &propFile{get: c.getProp(&c.tag), set: c.setProp("tag", &c.tag, checkTag)}, fuse.DT_File},
		{"volumes", &propFile{get: c.getProp(&c.volumes), set: c.setProp("volumes", &c.volumes, checkVolumes)}, fuse.DT_File},
		{"files", withPath(&filesDir{v: v}, "/"), fuse.DT_Dir},
		{"ctl", &ctlFile{do: c.ctl}, fuse.DT_File},
		{"status", &textFile{get: func() []byte { return []byte(c.status()) }}, fuse.DT_File},
		{"wait", &waitFile{wait: c.wait}, fuse.DT_File},
		{"ip", &textFile{get: c.ipText}, fuse.DT_File},
		{"tunnels", &textFile{get: c.tunnelsText}, fuse.DT_File},
		{"info.json", &textFile{get: c.infoJSON}, fuse.DT_File},
		{"stdout", &streamFile{get: func() *stream { return c.stdout }}, fuse.DT_File},
		{"stderr", &streamFile{get: func() *stream { return c.stderr }}, fuse.DT_File},
		{"procs", &procsDir{c: c}, fuse.DT_Dir},
		{"error", &textFile{get: func() []byte {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.errMsg == "" {
				return nil
			}
			return []byte(c.errMsg + "\n")
		}}, fuse.DT_File},
	}
	c.views[parent] = v
	return v
}

func checkEnv(s string) error {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "=") {
			return failf(syscall.EINVAL, "env: %q is not KEY=VALUE", l)
		}
	}
	return nil
}

func envLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// ctrDir is a container's directory.
type ctrDir struct {
	fixedDir
	c *ctr

	mu    sync.Mutex
	files map[string]fusefs.Node // files/ nodes by path, so each keeps its identity
	negs  map[string]time.Time   // missing paths the kernel keeps (negative entries), when given (liveattr.go)
}

func (d *ctrDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

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
		c.state = "running"
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

func (c *ctr) isDestroyed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == "destroyed"
}

// start spawns the container from what was written; on failure it stays new.
func (c *ctr) start(ctx context.Context, asleep bool) error {
	c.mu.Lock()
	if c.state != "new" {
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
	c.state = "starting"
	c.mu.Unlock()
	undo := func(err error) error {
		c.mu.Lock()
		c.state = "new"
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
	if c.state == "starting" {
		c.state = "running"
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
	if c.state != "destroyed" {
		c.state, c.code = "exited", code
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
	if c.state == "destroyed" {
		c.mu.Unlock()
		return
	}
	c.state = "destroyed"
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
	if st == "starting" {
		return failf(syscall.EBUSY, "destroy: the container is starting")
	}
	if sc != nil && st != "destroyed" {
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
	if st == "new" {
		return "", c.fail(failf(syscall.EBUSY, "wait: the container is not started"))
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == "destroyed" && c.code == 0 {
		return "destroyed\n", nil
	}
	return fmt.Sprintf("%d\n", c.code), nil
}

// splitCommand splits a command line into words. Rules: words are
// separated by blanks; 'single quotes' keep everything literally; inside
// "double quotes" a backslash escapes \ " $ and `; outside quotes a
// backslash escapes any character. No expansion of any kind happens.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, failf(syscall.EINVAL, "command: unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, failf(syscall.EINVAL, "command: unterminated double quote")
			}
			inWord = true
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, failf(syscall.EINVAL, "command: trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// checkTag accepts an empty tag (none) or a valid one.
func checkTag(s string) error {
	if t := strings.TrimSpace(s); t != "" {
		return sdk.CheckTag(t)
	}
	return nil
}

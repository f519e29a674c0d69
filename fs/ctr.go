package fs

import (
	"context"
	"fmt"
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
	state    lifeState
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
	c := &ctr{f: f, name: name, parent: parent, state: stateNew, pre: map[string]*preEntry{},
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
	if c.state == stateExited {
		return fmt.Sprintf("exited %d\n", c.code)
	}
	return c.state.String() + "\n"
}

// running reports whether the container's main process runs.
func (c *ctr) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateRunning
}

// started reports the sdk container once the container runs (or ran).
func (c *ctr) started() *sdk.Container {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateNew || c.state == stateStarting {
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
		if c.state != stateNew {
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

// ctrDir is a container's directory.
type ctrDir struct {
	fixedDir
	c *ctr

	mu    sync.Mutex
	files map[string]fusefs.Node // files/ nodes by path, so each keeps its identity
	negs  map[string]time.Time   // missing paths the kernel keeps (negative entries), when given (liveattr.go)
}

func (d *ctrDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.Node = (*ctrDir)(nil)
)

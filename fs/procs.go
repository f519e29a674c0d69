package fs

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// proc is a process of a container: procs/<p>/.
type proc struct {
	c    *ctr
	name string
	dir  *fixedDir

	mu     sync.Mutex
	cmd    string
	env    string
	state  lifeState // never stateDestroyed
	code   int
	p      *sdk.Process
	stdout *stream
	stderr *stream
	done   chan struct{}
	errMsg string
}

func newProc(c *ctr, name string) *proc {
	p := &proc{c: c, name: name, state: stateNew, stdout: newOutputStream(), stderr: newOutputStream(), done: make(chan struct{})}
	get := func(s *string) func() string {
		return func() string { p.mu.Lock(); defer p.mu.Unlock(); return *s }
	}
	set := func(what string, s *string, check func(string) error) func(string) error {
		return func(v string) error {
			if check != nil {
				if err := check(v); err != nil {
					return p.fail(err)
				}
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.state != stateNew {
				p.errMsg = fmt.Sprintf("%s: the process is %s", what, p.state)
				return fuse.Errno(syscall.EBUSY)
			}
			*s = v
			return nil
		}
	}
	p.dir = &fixedDir{entries: []dirEntry{
		{"cmd", &propFile{get: get(&p.cmd), set: set("cmd", &p.cmd, func(s string) error { _, err := splitCommand(s); return err })}, fuse.DT_File},
		{"env", &propFile{get: get(&p.env), set: set("env", &p.env, checkEnv)}, fuse.DT_File},
		{"ctl", &ctlFile{do: p.ctl}, fuse.DT_File},
		{"stdin", &stdinFile{p: p}, fuse.DT_File},
		{"stdout", &streamFile{get: func() *stream { return p.stdout }}, fuse.DT_File},
		{"stderr", &streamFile{get: func() *stream { return p.stderr }}, fuse.DT_File},
		{"status", &textFile{get: func() []byte { return []byte(p.status()) }}, fuse.DT_File},
		{"wait", &waitFile{wait: p.wait}, fuse.DT_File},
		{"error", &textFile{get: func() []byte {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.errMsg == "" {
				return nil
			}
			return []byte(p.errMsg + "\n")
		}}, fuse.DT_File},
	}}
	return p
}

func (p *proc) fail(err error) error {
	p.mu.Lock()
	p.errMsg = err.Error()
	p.mu.Unlock()
	return errno(err)
}

func (p *proc) status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateExited {
		return fmt.Sprintf("exited %d\n", p.code)
	}
	return p.state.String() + "\n"
}

// start spawns the process; on failure it stays new.
func (p *proc) start(ctx context.Context) error {
	sc := p.c.started()
	if sc == nil || p.c.isDestroyed() {
		return p.fail(failf(syscall.EBUSY, "start: the container is not running"))
	}
	p.mu.Lock()
	if p.state != stateNew {
		st := p.state
		p.mu.Unlock()
		return p.fail(failf(syscall.EBUSY, "start: the process is already %s", st))
	}
	args, err := splitCommand(p.cmd)
	if err != nil {
		p.mu.Unlock()
		return p.fail(err)
	}
	if len(args) == 0 {
		p.mu.Unlock()
		return p.fail(failf(syscall.EINVAL, "start: no command (write one to cmd first)"))
	}
	var opts []sdk.ProcOption
	if env := envLines(p.env); len(env) > 0 {
		opts = append(opts, sdk.ProcEnv(env...))
	}
	p.state = stateStarting
	p.mu.Unlock()
	cctx, cancel := callCtx(ctx)
	defer cancel()
	sp, err := sc.Spawn(cctx, args, opts...)
	if err != nil {
		p.mu.Lock()
		p.state = stateNew
		p.mu.Unlock()
		return p.fail(err)
	}
	p.mu.Lock()
	p.p, p.state = sp, stateRunning
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(p.stdout, sp.Stdout) }()
	go func() { defer wg.Done(); io.Copy(p.stderr, sp.Stderr) }()
	go func() {
		<-sp.Done()
		code, _ := sp.Wait(context.Background())
		drained := make(chan struct{})
		go func() { wg.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
		}
		p.mu.Lock()
		p.state, p.code = stateExited, code
		p.mu.Unlock()
		p.closeStreams()
		close(p.done)
	}()
	return nil
}

func (p *proc) closeStreams() {
	p.stdout.Close()
	p.stderr.Close()
}

func (p *proc) ctl(ctx context.Context, line string) error {
	verb, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	switch verb {
	case "start":
		return p.start(ctx)
	case "kill", "signal":
		sig := syscall.SIGKILL
		if verb == "signal" {
			n, err := strconv.Atoi(rest)
			if err != nil || n <= 0 || n > 64 {
				return p.fail(failf(syscall.EINVAL, "ctl: signal takes a signal number, not %q", rest))
			}
			sig = syscall.Signal(n)
		}
		p.mu.Lock()
		sp, st := p.p, p.state
		p.mu.Unlock()
		if sp == nil || st != stateRunning {
			return p.fail(failf(syscall.EBUSY, "ctl: %s: the process is %s", verb, st))
		}
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if err := sp.Signal(cctx, sig); err != nil {
			return p.fail(err)
		}
		return nil
	}
	return p.fail(failf(syscall.EINVAL, "ctl: unknown command %q (start, kill, signal N)", verb))
}

func (p *proc) wait(ctx context.Context) (string, error) {
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	if st == stateNew {
		return "", p.fail(failf(syscall.EBUSY, "wait: the process is not started"))
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%d\n", p.code), nil
}

// stdinFile feeds the process's standard input; the last close sends EOF.
type stdinFile struct{ p *proc }

func (f *stdinFile) Attr(ctx context.Context, a *fuse.Attr) error { fileAttr(a, 0o222, 0); return nil }

func (f *stdinFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	return nil
}

func (f *stdinFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if req.Flags.IsReadOnly() {
		return nil, fuse.Errno(syscall.EACCES)
	}
	f.p.mu.Lock()
	sp := f.p.p
	f.p.mu.Unlock()
	if sp == nil {
		return nil, f.p.fail(failf(syscall.EBUSY, "stdin: the process is not started"))
	}
	resp.Flags |= fuse.OpenDirectIO | fuse.OpenNonSeekable
	return &stdinHandle{sp: sp}, nil
}

type stdinHandle struct{ sp *sdk.Process }

func (h *stdinHandle) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() { n, err := h.sp.Stdin.Write(req.Data); ch <- result{n, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			return errno(r.err)
		}
		resp.Size = r.n
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *stdinHandle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	go h.sp.Stdin.Close()
	return nil
}

// procsDir is a container's procs/: mkdir makes a process; last links to
// the one the last "run" made.
type procsDir struct{ c *ctr }

func (d *procsDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

func (d *procsDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = 0
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Name == "last" && c.last != "" {
		last := c.last
		return &symlink{target: func() string { return last }}, nil
	}
	if p := c.procs[req.Name]; p != nil {
		return p.dir, nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *procsDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []fuse.Dirent
	for n := range c.procs {
		out = append(out, fuse.Dirent{Name: n, Type: fuse.DT_Dir})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if c.last != "" {
		out = append(out, fuse.Dirent{Name: "last", Type: fuse.DT_Link})
	}
	return out, nil
}

func (d *procsDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	c := d.c
	if req.Name == "last" {
		return nil, c.fail(failf(syscall.EINVAL, "procs: \"last\" is reserved"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.procs[req.Name] != nil {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	p := newProc(c, req.Name)
	c.procs[req.Name] = p
	return p.dir, nil
}

func (d *procsDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	c := d.c
	c.mu.Lock()
	p := c.procs[req.Name]
	c.mu.Unlock()
	if p == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	if st == stateRunning || st == stateStarting {
		return p.fail(failf(syscall.EBUSY, "rmdir: the process is %s", st))
	}
	c.mu.Lock()
	delete(c.procs, req.Name)
	if c.last == req.Name {
		c.last = ""
	}
	c.mu.Unlock()
	return nil
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.Node                = (*procsDir)(nil)
	_ fusefs.NodeRequestLookuper = (*procsDir)(nil)
	_ fusefs.NodeMkdirer         = (*procsDir)(nil)
	_ fusefs.NodeRemover         = (*procsDir)(nil)
	_ fusefs.Node                = (*stdinFile)(nil)
	_ fusefs.NodeSetattrer       = (*stdinFile)(nil)
	_ fusefs.NodeOpener          = (*stdinFile)(nil)
	_ fusefs.HandleWriter        = (*stdinHandle)(nil)
	_ fusefs.HandleReleaser      = (*stdinHandle)(nil)
)

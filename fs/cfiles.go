package fs

import (
	"context"
	"os"
	"path"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// preEntry is a pre-boot file or directory, kept in memory until start.
type preEntry struct {
	dir   bool
	mode  uint32
	data  []byte
	mtime time.Time
}

// filesDir is a directory under a container's files/: before start the
// pre-boot tree, after start the container's filesystem. Paths are
// absolute in the container and always cleaned, so nothing leaves it.
type filesDir struct {
	v *ctrDir
	pathOf
}

func (d *filesDir) child(name string) string { return path.Join(d.path(), name) }

// node returns the one node for a path under this view, replacing it when
// its kind changed.
func (v *ctrDir) node(p string, kind string, mk func() fusefs.Node) fusefs.Node {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := v.files[p]; n != nil && nodeKind(n) == kind {
		return n
	}
	n := mk()
	v.files[p] = n
	return n
}

// writing returns the file at p if a handle of this view writes it (it
// may not be in the container yet: it is put on flush).
func (v *ctrDir) writing(p string) fusefs.Node {
	v.mu.Lock()
	n, _ := v.files[p].(*liveFile)
	v.mu.Unlock()
	if n == nil || len(n.openWriters()) == 0 {
		return nil
	}
	return n
}

// writingIn lists the files of directory dir that handles of this view
// write.
func (v *ctrDir) writingIn(dir string) []string {
	v.mu.Lock()
	var files []*liveFile
	for p, n := range v.files {
		if f, ok := n.(*liveFile); ok && path.Dir(p) == dir {
			files = append(files, f)
		}
	}
	v.mu.Unlock()
	var out []string
	for _, f := range files {
		if len(f.openWriters()) > 0 {
			out = append(out, f.path())
		}
	}
	return out
}

func nodeKind(n fusefs.Node) string {
	switch n.(type) {
	case *filesDir:
		return "dir"
	case *preFile:
		return "pre"
	case *liveFile:
		return "file"
	case *liveLink:
		return "link"
	case *preLink:
		return "prelink"
	}
	return ""
}

func (d *filesDir) nodeFor(p string, isDir bool, mode os.FileMode, live bool) fusefs.Node {
	c := d.v.c
	switch {
	case isDir:
		return d.v.node(p, "dir", func() fusefs.Node { return withPath(&filesDir{v: d.v}, p) })
	case !live && mode&os.ModeSymlink != 0:
		return d.v.node(p, "prelink", func() fusefs.Node { return withPath(&preLink{c: c}, p) })
	case !live:
		return d.v.node(p, "pre", func() fusefs.Node { return withPath(&preFile{c: c, v: d.v}, p) })
	case mode&os.ModeSymlink != 0:
		return d.v.node(p, "link", func() fusefs.Node { return withPath(&liveLink{v: d.v}, p) })
	}
	return d.v.node(p, "file", func() fusefs.Node { return withPath(&liveFile{v: d.v}, p) })
}

func (d *filesDir) Attr(ctx context.Context, a *fuse.Attr) error {
	dirAttr(a, 0o755)
	if sc := d.v.c.started(); sc != nil && d.path() != "/" {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		fi, err := sc.Stat(cctx, d.path())
		if err != nil {
			return errno(err)
		}
		a.Mode = os.ModeDir | os.FileMode(fi.Mode).Perm()
		a.Mtime = fi.ModTime
		return nil
	}
	if d.v.c.preEntry(d.path()) == nil {
		if fi, ok := d.v.c.imageEntry(ctx, d.path()); ok {
			a.Mode = os.ModeDir | os.FileMode(fi.Mode).Perm()
			a.Mtime = fi.ModTime
		}
	}
	return nil
}

func (d *filesDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = 0
	c := d.v.c
	p := d.child(req.Name)
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		fi, err := sc.Stat(cctx, p)
		if err != nil {
			if n := d.v.writing(p); n != nil && isNotFound(err) {
				return n, nil // made here, not yet put
			}
			return nil, errno(err)
		}
		m := os.FileMode(fi.Mode)
		return d.nodeFor(p, m.IsDir(), m, true), nil
	}
	if e := c.preEntry(p); e != nil {
		return d.nodeFor(p, e.dir, 0, false), nil
	}
	if fi, ok := c.imageEntry(ctx, p); ok {
		m := os.FileMode(fi.Mode)
		return d.nodeFor(p, m.IsDir(), m, false), nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *filesDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	c := d.v.c
	var out []fuse.Dirent
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		list, err := sc.List(cctx, d.path())
		if err != nil {
			return nil, errno(err)
		}
		seen := map[string]bool{}
		for _, fi := range list {
			out = append(out, fuse.Dirent{Name: path.Base(fi.Name), Type: direntType(os.FileMode(fi.Mode))})
			seen[path.Base(fi.Name)] = true
		}
		for _, p := range d.v.writingIn(d.path()) {
			if !seen[path.Base(p)] {
				out = append(out, fuse.Dirent{Name: path.Base(p), Type: fuse.DT_File})
			}
		}
		return out, nil
	}
	seen := map[string]bool{}
	c.mu.Lock()
	for p, e := range c.pre {
		if p != d.path() && path.Dir(p) == d.path() {
			t := fuse.DT_File
			if e.dir {
				t = fuse.DT_Dir
			}
			out = append(out, fuse.Dirent{Name: path.Base(p), Type: t})
			seen[path.Base(p)] = true
		}
	}
	c.mu.Unlock()
	for name, fi := range c.imageDir(ctx, d.path()) {
		if !seen[name] {
			out = append(out, fuse.Dirent{Name: name, Type: direntType(os.FileMode(fi.Mode))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *filesDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	c := d.v.c
	p := d.child(req.Name)
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if _, err := sc.Stat(cctx, p); err == nil {
			return nil, fuse.Errno(syscall.EEXIST)
		}
		if err := sc.Mkdir(cctx, p, req.Mode.Perm()); err != nil {
			return nil, c.fail(err)
		}
		return d.nodeFor(p, true, 0, true), nil
	}
	if _, ok := c.imageEntry(ctx, p); ok {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != "new" {
		return nil, fuse.Errno(syscall.EBUSY)
	}
	if c.pre[p] != nil {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	c.pre[p] = &preEntry{dir: true, mode: uint32(req.Mode.Perm()), mtime: time.Now()}
	return d.nodeFor(p, true, 0, false), nil
}

func (d *filesDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	c := d.v.c
	p := d.child(req.Name)
	resp.Flags |= fuse.OpenDirectIO
	// The name is looked up again each time (as Lookup answers), so a
	// pre-boot file made here is not taken for one after start.
	resp.EntryValid = 0
	if sc := c.started(); sc != nil {
		n := d.nodeFor(p, false, 0, true).(*liveFile)
		h, err := n.open(true, false)
		if err != nil {
			return nil, nil, err
		}
		h.dirty = true // creating an empty file is a change too
		h.mode = req.Mode.Perm()
		return n, h, nil
	}
	c.mu.Lock()
	if c.state != "new" {
		c.mu.Unlock()
		return nil, nil, fuse.Errno(syscall.EBUSY)
	}
	e := c.pre[p]
	if e == nil {
		e = &preEntry{mode: uint32(req.Mode.Perm()), mtime: time.Now()}
		c.pre[p] = e
	} else if req.Flags&fuse.OpenTruncate != 0 {
		e.data = nil
	}
	c.mu.Unlock()
	n := d.nodeFor(p, false, 0, false)
	return n, n, nil
}

func (d *filesDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	c := d.v.c
	p := d.child(req.Name)
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if err := sc.Remove(cctx, p, false); err != nil {
			return c.fail(err)
		}
		return nil
	}
	if c.preEntry(p) == nil {
		if _, ok := c.imageEntry(ctx, p); ok {
			return c.fail(failf(syscall.EBUSY, "%s belongs to the image: it can be removed after start", p))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pre[p] == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	for q := range c.pre {
		if strings.HasPrefix(q, p+"/") {
			return fuse.Errno(syscall.ENOTEMPTY)
		}
	}
	delete(c.pre, p)
	return nil
}

func (d *filesDir) Rename(ctx context.Context, req *fuse.RenameRequest, newDir fusefs.Node) error {
	nd, ok := newDir.(*filesDir)
	if !ok || nd.v.c != d.v.c {
		return fuse.Errno(syscall.EXDEV)
	}
	c := d.v.c
	from, to := d.child(req.OldName), nd.child(req.NewName)
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if err := sc.Rename(cctx, from, to); err != nil {
			return c.fail(err)
		}
		c.movePaths(from, to)
		return nil
	}
	if c.preEntry(from) == nil {
		if _, ok := c.imageEntry(ctx, from); ok {
			return c.fail(failf(syscall.EBUSY, "%s belongs to the image: it can be moved after start", from))
		}
	}
	c.mu.Lock()
	e := c.pre[from]
	switch {
	case e == nil:
		c.mu.Unlock()
		return fuse.Errno(syscall.ENOENT)
	case c.state != "new":
		c.mu.Unlock()
		return fuse.Errno(syscall.EBUSY)
	case e.dir && (to == from || strings.HasPrefix(to, from+"/")):
		c.mu.Unlock()
		return fuse.Errno(syscall.EINVAL)
	}
	if old := c.pre[to]; old != nil && old.dir != e.dir {
		c.mu.Unlock()
		if old.dir {
			return fuse.Errno(syscall.EISDIR)
		}
		return fuse.Errno(syscall.ENOTDIR)
	}
	for p, pe := range c.pre {
		if p == from || strings.HasPrefix(p, from+"/") {
			delete(c.pre, p)
			c.pre[to+p[len(from):]] = pe
		}
	}
	c.mu.Unlock()
	c.movePaths(from, to)
	return nil
}

// preFile is a pre-boot file: its bytes live here until start. The kernel
// may still hold it after start (a name it cached, an open directory):
// then it stands for the container's file at its path.
type preFile struct {
	c *ctr
	v *ctrDir
	pathOf
}

// live is the container's file at f's path once the container started.
func (f *preFile) live() *liveFile {
	if f.c.started() == nil {
		return nil
	}
	p := f.path()
	return f.v.node(p, "file", func() fusefs.Node { return withPath(&liveFile{v: f.v}, p) }).(*liveFile)
}

func (f *preFile) entry() *preEntry {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.c.pre[f.path()]
}

func (f *preFile) Attr(ctx context.Context, a *fuse.Attr) error {
	if l := f.live(); l != nil {
		return l.Attr(ctx, a)
	}
	f.c.mu.Lock()
	e := f.c.pre[f.path()]
	if e != nil {
		fileAttr(a, os.FileMode(e.mode), len(e.data))
		a.Mtime = e.mtime
	}
	f.c.mu.Unlock()
	if e != nil {
		return nil
	}
	fi, ok := f.c.imageEntry(ctx, f.path())
	if !ok {
		return fuse.Errno(syscall.ENOENT)
	}
	fileAttr(a, os.FileMode(fi.Mode).Perm(), int(fi.Size))
	a.Mtime = fi.ModTime
	return nil
}

// Open serves a pre-boot file; a file of the image is read from the image,
// or copied up first when opened for writing.
func (f *preFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if l := f.live(); l != nil {
		return l.Open(ctx, req, resp)
	}
	resp.Flags |= fuse.OpenDirectIO
	if f.entry() != nil {
		return f, nil
	}
	if req.Flags.IsReadOnly() {
		fi, ok := f.c.imageEntry(ctx, f.path())
		if !ok {
			return nil, fuse.Errno(syscall.ENOENT)
		}
		data, err := f.c.readImageFile(ctx, f.path(), fi)
		if err != nil {
			return nil, err
		}
		return &imageHandle{data: data}, nil
	}
	if _, err := f.c.copyUp(ctx, f.path(), req.Flags&fuse.OpenTruncate != 0); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *preFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if l := f.live(); l != nil {
		return l.Setattr(ctx, req, resp)
	}
	if f.entry() == nil {
		if _, err := f.c.copyUp(ctx, f.path(), req.Valid.Size() && req.Size == 0); err != nil {
			return err
		}
	}
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	e := f.c.pre[f.path()]
	if e == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if f.c.state != "new" {
		return fuse.Errno(syscall.EBUSY)
	}
	if req.Valid.Size() {
		if req.Size <= uint64(len(e.data)) {
			e.data = e.data[:req.Size]
		} else {
			e.data = append(e.data, make([]byte, int(req.Size)-len(e.data))...)
		}
	}
	if req.Valid.Mode() {
		e.mode = uint32(req.Mode.Perm())
	}
	return nil
}

func (f *preFile) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if e := f.c.pre[f.path()]; e != nil {
		resp.Data = append([]byte(nil), sliceAt(e.data, req.Offset, req.Size)...)
	}
	return nil
}

func (f *preFile) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	e := f.c.pre[f.path()]
	if e == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if f.c.state != "new" {
		return fuse.Errno(syscall.EBUSY)
	}
	end := int(req.Offset) + len(req.Data)
	if end > len(e.data) {
		e.data = append(e.data, make([]byte, end-len(e.data))...)
	}
	copy(e.data[req.Offset:], req.Data)
	e.mtime = time.Now()
	resp.Size = len(req.Data)
	return nil
}

// liveLink is a symbolic link in a started container; readlink shows a
// path to where it leads that cannot leave files/ (see linktarget.go).
type liveLink struct {
	v *ctrDir
	pathOf
}

func (l *liveLink) Attr(ctx context.Context, a *fuse.Attr) error {
	t, err := l.Readlink(ctx, nil)
	return linkAttr(a, t, err)
}

func (l *liveLink) Readlink(ctx context.Context, req *fuse.ReadlinkRequest) (string, error) {
	sc := l.v.c.started()
	if sc == nil {
		return "", fuse.Errno(syscall.ENOENT)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	fi, err := sc.Stat(cctx, l.path())
	if err != nil {
		return "", errno(err)
	}
	return shownTarget(l.path(), fi.Resolved), nil
}

// pathOf is a node's path in the container. The kernel keeps a node across
// a rename, so a rename moves the paths of the node and all below it.
type pathOf struct{ v atomic.Pointer[string] }

func (p *pathOf) path() string     { return *p.v.Load() }
func (p *pathOf) setPath(s string) { p.v.Store(&s) }
func withPath[T interface{ setPath(string) }](n T, p string) T {
	n.setPath(p)
	return n
}

// movePaths re-keys the nodes at from and below to their new paths in
// every view of the container, after a rename in the container.
func (c *ctr) movePaths(from, to string) {
	c.mu.Lock()
	views := make([]*ctrDir, 0, len(c.views))
	for _, v := range c.views {
		views = append(views, v)
	}
	c.mu.Unlock()
	for _, v := range views {
		v.mu.Lock()
		moved := map[string]fusefs.Node{}
		for p, n := range v.files {
			if p == from || strings.HasPrefix(p, from+"/") {
				np := to + p[len(from):]
				if s, ok := n.(interface{ setPath(string) }); ok {
					s.setPath(np)
				}
				moved[np] = n
				delete(v.files, p)
			}
		}
		for p, n := range moved {
			v.files[p] = n
		}
		v.mu.Unlock()
	}
}

// linkAttr describes a symlink whose (rewritten) target is t.
func linkAttr(a *fuse.Attr, t string, err error) error {
	if err != nil {
		return err
	}
	fileAttr(a, os.ModeSymlink|0o777, len(t))
	return nil
}

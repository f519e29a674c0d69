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

// nodeKind is the kind of a node under files/; a path's node is replaced
// when its kind changes.
type nodeKind int

const (
	kindPreDir      nodeKind = iota + 1 // filesDir
	kindPreFile                         // preFile
	kindPreLink                         // preLink
	kindLiveDir                         // liveDir
	kindLiveFile                        // liveFile
	kindLiveLink                        // liveLink
	kindLiveSpecial                     // liveSpecial
)

// kindOf is the kind of a node under files/ (0 for none).
func kindOf(n fusefs.Node) nodeKind {
	switch n.(type) {
	case *filesDir:
		return kindPreDir
	case *preFile:
		return kindPreFile
	case *preLink:
		return kindPreLink
	case *liveDir:
		return kindLiveDir
	case *liveFile:
		return kindLiveFile
	case *liveLink:
		return kindLiveLink
	case *liveSpecial:
		return kindLiveSpecial
	}
	return 0
}

// node returns the one node for a path under this view, replacing it when
// its kind changed.
func (v *ctrDir) node(p string, kind nodeKind, mk func() fusefs.Node) fusefs.Node {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := v.files[p]; n != nil && kindOf(n) == kind {
		return n
	}
	n := mk()
	v.files[p] = n
	return n
}

// live is the started container's directory at d's path (nil before
// start): the kernel may hold a pre-boot directory's node after start.
func (d *filesDir) live() *liveDir {
	if d.v.c.started() == nil {
		return nil
	}
	p := d.path()
	return d.v.node(p, kindLiveDir, func() fusefs.Node { return withPath(&liveDir{v: d.v}, p) }).(*liveDir)
}

func (d *filesDir) nodeFor(p string, isDir bool, mode os.FileMode) fusefs.Node {
	c := d.v.c
	switch {
	case isDir:
		return d.v.node(p, kindPreDir, func() fusefs.Node { return withPath(&filesDir{v: d.v}, p) })
	case mode&os.ModeSymlink != 0:
		return d.v.node(p, kindPreLink, func() fusefs.Node { return withPath(&preLink{c: c}, p) })
	}
	return d.v.node(p, kindPreFile, func() fusefs.Node { return withPath(&preFile{c: c, v: d.v}, p) })
}

func (d *filesDir) Attr(ctx context.Context, a *fuse.Attr) error {
	if l := d.live(); l != nil {
		return l.Attr(ctx, a)
	}
	dirAttr(a, 0o755)
	if e := d.v.c.preEntry(d.path()); e != nil {
		a.Mode = os.ModeDir | os.FileMode(e.mode).Perm()
		a.Mtime = e.mtime
	} else if fi, ok := d.v.c.imageEntry(ctx, d.path()); ok {
		a.Mode = os.ModeDir | os.FileMode(fi.Mode).Perm()
		a.Mtime = fi.ModTime
	}
	return nil
}

// Setattr before start changes a pre-boot directory's mode (and takes
// "now" for its time); an owner or a given time is ENOTSUP until start.
func (d *filesDir) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if l := d.live(); l != nil {
		return l.Setattr(ctx, req, resp)
	}
	c := d.v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.pre[d.path()]
	if e == nil {
		return c.failLocked(failf(syscall.ENOTSUP, "%s: only pre-boot directories made here can change before start", d.path()))
	}
	return preSetattr(c, e, req)
}

func (d *filesDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	if l := d.live(); l != nil {
		resp.EntryValid = attrTTL
		return l.Lookup(ctx, req.Name)
	}
	resp.EntryValid = 0
	c := d.v.c
	p := path.Join(d.path(), req.Name)
	if e := c.preEntry(p); e != nil {
		return d.nodeFor(p, e.dir, 0), nil
	}
	if fi, ok := c.imageEntry(ctx, p); ok {
		m := os.FileMode(fi.Mode)
		return d.nodeFor(p, m.IsDir(), m), nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *filesDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	if l := d.live(); l != nil {
		return l.ReadDirAll(ctx)
	}
	c := d.v.c
	var out []fuse.Dirent
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
	if l := d.live(); l != nil {
		return l.Mkdir(ctx, req)
	}
	c := d.v.c
	p := path.Join(d.path(), req.Name)
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
	return d.nodeFor(p, true, 0), nil
}

func (d *filesDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	if l := d.live(); l != nil {
		return l.Create(ctx, req, resp)
	}
	c := d.v.c
	p := path.Join(d.path(), req.Name)
	resp.Flags |= fuse.OpenDirectIO
	// The name is looked up again each time (as Lookup answers), so a
	// pre-boot file made here is not taken for one after start.
	resp.EntryValid = 0
	c.mu.Lock()
	if c.state != "new" {
		c.mu.Unlock()
		return nil, nil, fuse.Errno(syscall.EBUSY)
	}
	e := c.pre[p]
	if e == nil {
		e = &preEntry{mode: uint32(req.Mode.Perm()), mtime: time.Now()}
		c.pre[p] = e
	} else if req.Flags&fuse.OpenExclusive != 0 {
		c.mu.Unlock()
		return nil, nil, fuse.Errno(syscall.EEXIST)
	} else if req.Flags&fuse.OpenTruncate != 0 {
		e.data = nil
	}
	c.mu.Unlock()
	n := d.nodeFor(p, false, 0)
	return n, n, nil
}

func (d *filesDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	if l := d.live(); l != nil {
		return l.Remove(ctx, req)
	}
	c := d.v.c
	p := path.Join(d.path(), req.Name)
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
	if l := d.live(); l != nil {
		return l.Rename(ctx, req, newDir)
	}
	nd, ok := newDir.(*filesDir)
	if !ok || nd.v.c != d.v.c {
		return fuse.Errno(syscall.EXDEV)
	}
	c := d.v.c
	from, to := path.Join(d.path(), req.OldName), path.Join(nd.path(), req.NewName)
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
	return f.v.node(p, kindLiveFile, func() fusefs.Node { return withPath(&liveFile{v: f.v}, p) }).(*liveFile)
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
	return preSetattr(f.c, e, req)
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
	if end > maxPreBoot {
		return f.c.failLocked(failf(syscall.EFBIG, "a pre-boot file may hold %d bytes; bigger files can be written after start", maxPreBoot))
	}
	if end > len(e.data) {
		e.data = append(e.data, make([]byte, end-len(e.data))...)
	}
	copy(e.data[req.Offset:], req.Data)
	e.mtime = time.Now()
	resp.Size = len(req.Data)
	return nil
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

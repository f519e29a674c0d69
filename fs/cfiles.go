package fs

import (
	"context"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// filesDir is a directory of a container's files/ before start: the
// image's tree with the pre-boot files laid over it. After start its
// methods are its liveDir's (the kernel may hold the node across the
// start). Paths are absolute in the container and always cleaned, so
// nothing leaves it.
type filesDir struct {
	v *ctrDir
	pathOf
}

var (
	_ fusefs.Node                = (*filesDir)(nil)
	_ fusefs.NodeSetattrer       = (*filesDir)(nil)
	_ fusefs.NodeRequestLookuper = (*filesDir)(nil)
	_ fusefs.HandleReadDirAller  = (*filesDir)(nil)
	_ fusefs.NodeMkdirer         = (*filesDir)(nil)
	_ fusefs.NodeCreater         = (*filesDir)(nil)
	_ fusefs.NodeRemover         = (*filesDir)(nil)
	_ fusefs.NodeRenamer         = (*filesDir)(nil)
	_ fusefs.NodeSymlinker       = (*filesDir)(nil)
	_ fusefs.NodeLinker          = (*filesDir)(nil)
	_ fusefs.NodeMknoder         = (*filesDir)(nil)
	_ fusefs.NodeFsyncer         = (*filesDir)(nil)
)

// live is the started container's directory at d's path (nil before
// start): the kernel may hold a pre-boot directory's node after start.
func (d *filesDir) live() *liveDir {
	if d.v.c.started() == nil {
		return nil
	}
	p := d.path()
	return d.v.node(p, kindLiveDir, func() fusefs.Node { return withPath(&liveDir{v: d.v}, p) }).(*liveDir)
}

// imageNode is the node of the image's file at p (mode m).
func (d *filesDir) imageNode(p string, m os.FileMode) fusefs.Node {
	c := d.v.c
	switch {
	case m.IsDir():
		return d.v.node(p, kindPreDir, func() fusefs.Node { return withPath(&filesDir{v: d.v}, p) })
	case m&os.ModeSymlink != 0:
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
		a.Mode = os.ModeDir | os.FileMode(e.mode)&preModeBits
		e.attr(a)
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
		return d.preNode(p, e), nil
	}
	if fi, ok := c.imageEntry(ctx, p); ok {
		return d.imageNode(p, os.FileMode(fi.Mode)), nil
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
			out = append(out, fuse.Dirent{Name: path.Base(p), Type: e.kind.direntType()})
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
	e := &preEntry{kind: preKindDir, mode: uint32(req.Mode.Perm()), mtime: time.Now()}
	p, err := d.addPre(ctx, req.Name, e)
	if err != nil {
		return nil, err
	}
	return d.preNode(p, e), nil
}

func (d *filesDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	if l := d.live(); l != nil {
		return l.Create(ctx, req, resp)
	}
	c := d.v.c
	p := path.Join(d.path(), req.Name)
	if len(req.Name) > maxName {
		return nil, nil, fuse.Errno(syscall.ENAMETOOLONG)
	}
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
	} else if e.kind != preKindFile {
		c.mu.Unlock()
		return nil, nil, fuse.Errno(syscall.EINVAL)
	} else if req.Flags&fuse.OpenTruncate != 0 {
		e.body.truncate(0)
	}
	c.mu.Unlock()
	n := d.preNode(p, e)
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
	e := c.pre[p]
	switch {
	case e == nil:
		return fuse.Errno(syscall.ENOENT)
	case c.state != "new":
		return fuse.Errno(syscall.EBUSY)
	case req.Dir && !e.isDir():
		return fuse.Errno(syscall.ENOTDIR)
	case !req.Dir && e.isDir():
		return fuse.Errno(syscall.EISDIR)
	}
	for q := range c.pre {
		if strings.HasPrefix(q, p+"/") {
			return fuse.Errno(syscall.ENOTEMPTY)
		}
	}
	c.dropLocked(p)
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
	if len(req.NewName) > maxName {
		return fuse.Errno(syscall.ENAMETOOLONG)
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
	case e.isDir() && (to == from || strings.HasPrefix(to, from+"/")):
		c.mu.Unlock()
		return fuse.Errno(syscall.EINVAL)
	}
	if c.imageLinkedLocked(to) {
		c.mu.Unlock()
		return c.fail(failf(syscall.EBUSY, "%s is hard-linked before start: rename onto it after start", to))
	}
	old := c.pre[to]
	if old == e {
		c.mu.Unlock()
		return nil // two names of one file: rename(2) does nothing
	}
	if old != nil && old.isDir() != e.isDir() {
		c.mu.Unlock()
		if old.isDir() {
			return fuse.Errno(syscall.EISDIR)
		}
		return fuse.Errno(syscall.ENOTDIR)
	}
	if old != nil && old.isDir() {
		for q := range c.pre {
			if strings.HasPrefix(q, to+"/") {
				c.mu.Unlock()
				return fuse.Errno(syscall.ENOTEMPTY)
			}
		}
	}
	c.dropLocked(to)
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

// Symlink makes a symlink: a pre-boot one before start (premake.go).
func (d *filesDir) Symlink(ctx context.Context, req *fuse.SymlinkRequest) (fusefs.Node, error) {
	if l := d.live(); l != nil {
		return l.Symlink(ctx, req)
	}
	return d.preSymlinkMake(ctx, req)
}

// Link makes a hard link: a pre-boot one before start (premake.go).
func (d *filesDir) Link(ctx context.Context, req *fuse.LinkRequest, old fusefs.Node) (fusefs.Node, error) {
	if l := d.live(); l != nil {
		return l.Link(ctx, req, old)
	}
	return d.preLinkMake(ctx, req, old)
}

// Mknod makes a FIFO or socket: a pre-boot one before start (premake.go).
func (d *filesDir) Mknod(ctx context.Context, req *fuse.MknodRequest) (fusefs.Node, error) {
	if l := d.live(); l != nil {
		return l.Mknod(ctx, req)
	}
	return d.preMknodMake(ctx, req)
}

// Fsync fsyncs the started container's directory; before start there is
// nothing on a disk to sync.
func (d *filesDir) Fsync(ctx context.Context, req *fuse.FsyncRequest) error {
	if l := d.live(); l != nil {
		return l.Fsync(ctx, req)
	}
	return nil
}

// Statfs gives the started container's filesystem; before start there is
// none yet, and the answer says so (no blocks, names up to 255 bytes).
func (d *filesDir) Statfs(ctx context.Context, req *fuse.StatfsRequest, resp *fuse.StatfsResponse) error {
	if l := d.live(); l != nil {
		return l.Statfs(ctx, req, resp)
	}
	*resp = fuse.StatfsResponse{Bsize: 4096, Frsize: 4096, Namelen: 255}
	return nil
}

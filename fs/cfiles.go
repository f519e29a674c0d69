package fs

import (
	"context"
	"os"
	"path"
	"sort"
	"syscall"

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

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.FSStatfser = (*filesDir)(nil)
)

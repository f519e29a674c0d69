package fs

import (
	"context"
	"os"
	"path"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// The nodes of symlinks, FIFOs and sockets made in files/ before start.

// preAttrLocked shows pre-boot entry e at p (c.mu held).
func (c *ctr) preAttrLocked(a *fuse.Attr, p string, e *preEntry) {
	fileAttr(a, e.kind.fileMode()|os.FileMode(e.mode)&preModeBits, int(e.body.size))
	e.attr(a)
	a.Nlink = c.linksLocked(p, e)
}

// preSymlink is a symlink made before start. Like every link under
// files/ it shows where it leads from its own directory, built so that it
// cannot leave files/ (linktarget.go); before start that is its target
// taken as text, as the container will resolve it with no symlink on the
// way. After start it stands for the container's link at its path.
type preSymlink struct {
	v *ctrDir
	pathOf
}

var (
	_ fusefs.Node           = (*preSymlink)(nil)
	_ fusefs.NodeReadlinker = (*preSymlink)(nil)
	_ fusefs.NodeSetattrer  = (*preSymlink)(nil)
)

func (l *preSymlink) live() *liveLink {
	if l.v.c.started() == nil {
		return nil
	}
	p := l.path()
	return l.v.node(p, kindLiveLink, func() fusefs.Node { return withPath(&liveLink{v: l.v}, p) }).(*liveLink)
}

// shown is what readlink shows for the link (c.mu held): the target
// resolved as text inside the container's root.
func (l *preSymlink) shown(e *preEntry) string {
	t := e.target
	if !path.IsAbs(t) {
		t = path.Join(path.Dir(l.path()), t)
	}
	return shownTarget(l.path(), path.Clean("/"+t))
}

func (l *preSymlink) Attr(ctx context.Context, a *fuse.Attr) error {
	if ll := l.live(); ll != nil {
		return ll.Attr(ctx, a)
	}
	c := l.v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.pre[l.path()]
	if e == nil || e.kind != preKindSymlink {
		return fuse.Errno(syscall.ENOENT)
	}
	c.preAttrLocked(a, l.path(), e)
	a.Size = uint64(len(l.shown(e)))
	return nil
}

func (l *preSymlink) Readlink(ctx context.Context, req *fuse.ReadlinkRequest) (string, error) {
	if ll := l.live(); ll != nil {
		return ll.Readlink(ctx, req)
	}
	c := l.v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.pre[l.path()]
	if e == nil || e.kind != preKindSymlink {
		return "", fuse.Errno(syscall.ENOENT)
	}
	return l.shown(e), nil
}

// Setattr changes the link itself (lchown, lutimes), applied at start.
func (l *preSymlink) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if ll := l.live(); ll != nil {
		return ll.Setattr(ctx, req, resp)
	}
	return preSetattrAt(l.v.c, l.path(), req)
}

// preSpecial is a FIFO or socket made before start; the kernel opens a
// FIFO itself, nothing here or on the node does. After start it stands
// for the container's file at its path.
type preSpecial struct {
	v *ctrDir
	pathOf
}

var (
	_ fusefs.Node          = (*preSpecial)(nil)
	_ fusefs.NodeSetattrer = (*preSpecial)(nil)
)

func (s *preSpecial) live() *liveSpecial {
	if s.v.c.started() == nil {
		return nil
	}
	p := s.path()
	return s.v.node(p, kindLiveSpecial, func() fusefs.Node { return withPath(&liveSpecial{v: s.v}, p) }).(*liveSpecial)
}

func (s *preSpecial) Attr(ctx context.Context, a *fuse.Attr) error {
	if l := s.live(); l != nil {
		return l.Attr(ctx, a)
	}
	c := s.v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.pre[s.path()]
	if e == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	c.preAttrLocked(a, s.path(), e)
	return nil
}

// Setattr changes its mode, owner and times, applied at start.
func (s *preSpecial) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if l := s.live(); l != nil {
		return l.Setattr(ctx, req, resp)
	}
	return preSetattrAt(s.v.c, s.path(), req)
}

// preSetattrAt is preSetattr on the entry at p.
func preSetattrAt(c *ctr, p string, req *fuse.SetattrRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.pre[p]
	if e == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	return preSetattr(c, e, req)
}

// EntryTTL is 0 for a name made before start, as Lookup answers: the
// kernel looks it up again, so after start it finds the container's file.
func (f *preFile) EntryTTL() time.Duration    { return 0 }
func (l *preSymlink) EntryTTL() time.Duration { return 0 }
func (s *preSpecial) EntryTTL() time.Duration { return 0 }

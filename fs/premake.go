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

// Before start, a symlink, hard link, FIFO or socket made in files/ is a
// pre-boot entry of its kind; putPreBoot makes it in the held container
// as the container's own file (the node never opens a FIFO or socket).

// maxName and maxTarget bound a name and a symlink's target as Linux
// does (NAME_MAX, PATH_MAX less its NUL).
const (
	maxName   = 255
	maxTarget = 4095
)

// addPre adds a new pre-boot entry e at p: EEXIST when p is taken (in
// the pre-boot files or the image), ENAMETOOLONG past NAME_MAX, EBUSY once
// the container is starting.
func (d *filesDir) addPre(ctx context.Context, name string, e *preEntry) (string, error) {
	c := d.v.c
	p := path.Join(d.path(), name)
	if len(name) > maxName {
		return "", fuse.Errno(syscall.ENAMETOOLONG)
	}
	if _, ok := c.imageEntry(ctx, p); ok {
		return "", fuse.Errno(syscall.EEXIST)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != "new" {
		return "", fuse.Errno(syscall.EBUSY)
	}
	if c.pre[p] != nil {
		return "", fuse.Errno(syscall.EEXIST)
	}
	c.pre[p] = e
	return p, nil
}

// preSymlinkMake keeps a symlink until start.
func (d *filesDir) preSymlinkMake(ctx context.Context, req *fuse.SymlinkRequest) (fusefs.Node, error) {
	if len(req.Target) > maxTarget {
		return nil, fuse.Errno(syscall.ENAMETOOLONG)
	}
	e := &preEntry{kind: preKindSymlink, mode: 0o777, target: req.Target, mtime: time.Now()}
	p, err := d.addPre(ctx, req.NewName, e)
	if err != nil {
		return nil, err
	}
	return d.preNode(p, e), nil
}

// preMknodMake keeps a FIFO or socket until start; a device is EPERM (a
// container's root may not make one either), an empty file is a pre-boot
// file.
func (d *filesDir) preMknodMake(ctx context.Context, req *fuse.MknodRequest) (fusefs.Node, error) {
	e := &preEntry{mode: uint32(req.Mode & preModeBits), mtime: time.Now()}
	switch {
	case req.Mode&os.ModeNamedPipe != 0:
		e.kind = preKindFIFO
	case req.Mode&os.ModeSocket != 0:
		e.kind = preKindSocket
	case req.Mode&os.ModeDevice != 0:
		return nil, d.v.c.fail(failf(syscall.EPERM, "mknod %s: devices cannot be made in a container", req.Name))
	case req.Mode.IsRegular():
		e.kind = preKindFile
	default:
		return nil, fuse.Errno(syscall.EINVAL)
	}
	p, err := d.addPre(ctx, req.Name, e)
	if err != nil {
		return nil, err
	}
	return d.preNode(p, e), nil
}

// preLinkMake makes req.NewName another name of old: of the same pre-boot
// entry (a real hard link once put), or of a regular file of the image
// (linked to it in the container after the puts). A directory is EPERM (as
// link(2) gives), another container's file EXDEV, an image symlink, FIFO
// or device EPERM (not linked exactly here: the filesystem's answer for a
// link it cannot make).
func (d *filesDir) preLinkMake(ctx context.Context, req *fuse.LinkRequest, old fusefs.Node) (fusefs.Node, error) {
	c := d.v.c
	var from string
	switch o := old.(type) {
	case *preFile:
		if o.c != c {
			return nil, fuse.Errno(syscall.EXDEV)
		}
		from = o.path()
	case *preSymlink:
		if o.v.c != c {
			return nil, fuse.Errno(syscall.EXDEV)
		}
		from = o.path()
	case *preSpecial:
		if o.v.c != c {
			return nil, fuse.Errno(syscall.EXDEV)
		}
		from = o.path()
	case *filesDir:
		return nil, fuse.Errno(syscall.EPERM)
	case *preLink:
		return nil, c.fail(failf(syscall.EPERM, "link %s: a symlink of the image can be linked after start", req.NewName))
	default:
		return nil, fuse.Errno(syscall.EXDEV)
	}
	e := c.preEntry(from)
	switch {
	case e != nil && e.isDir():
		return nil, fuse.Errno(syscall.EPERM)
	case e != nil && e.kind == preKindImageLink:
		e = &preEntry{kind: preKindImageLink, target: e.target}
	case e == nil:
		fi, ok := c.imageEntry(ctx, from)
		if !ok {
			return nil, fuse.Errno(syscall.ENOENT)
		}
		if !os.FileMode(fi.Mode).IsRegular() {
			return nil, c.fail(failf(syscall.EPERM, "link %s: only regular files of the image can be linked before start", req.NewName))
		}
		e = &preEntry{kind: preKindImageLink, target: from}
	}
	p, err := d.addPre(ctx, req.NewName, e)
	if err != nil {
		return nil, err
	}
	c.f.invalidateAttr(old) // its link count changed
	if e.kind == preKindImageLink {
		return d.v.node(p, kindPreFile, func() fusefs.Node { return withPath(&preFile{c: c, v: d.v}, p) }), nil
	}
	return d.preNode(p, e), nil
}

// preNode is the node of pre-boot entry e at p.
func (d *filesDir) preNode(p string, e *preEntry) fusefs.Node {
	switch e.kind {
	case preKindDir:
		return d.v.node(p, kindPreDir, func() fusefs.Node { return withPath(&filesDir{v: d.v}, p) })
	case preKindSymlink:
		return d.v.node(p, kindPreSymlink, func() fusefs.Node { return withPath(&preSymlink{v: d.v}, p) })
	case preKindFIFO, preKindSocket:
		return d.v.node(p, kindPreSpecial, func() fusefs.Node { return withPath(&preSpecial{v: d.v}, p) })
	}
	return d.v.node(p, kindPreFile, func() fusefs.Node { return withPath(&preFile{c: d.v.c, v: d.v}, p) })
}

// preAttr shows pre-boot entry e at p (c.mu held).
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

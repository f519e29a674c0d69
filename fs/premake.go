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

// Making names in files/: after start the container's own calls (its
// liveDir's). Before start, a directory, file, symlink, hard link, FIFO or
// socket made in files/ is a pre-boot entry of its kind; putPreBoot makes
// it in the held container as the container's own file (the node never
// opens a FIFO or socket).

// Mkdir makes a directory: a pre-boot one (kept even empty) before start.
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

// Create makes a file: a pre-boot one before start, its bytes spooled here.
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
	if c.state != stateNew {
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

// Symlink makes a symlink: a pre-boot one before start.
func (d *filesDir) Symlink(ctx context.Context, req *fuse.SymlinkRequest) (fusefs.Node, error) {
	if l := d.live(); l != nil {
		return l.Symlink(ctx, req)
	}
	return d.preSymlinkMake(ctx, req)
}

// Link makes a hard link: a pre-boot one before start.
func (d *filesDir) Link(ctx context.Context, req *fuse.LinkRequest, old fusefs.Node) (fusefs.Node, error) {
	if l := d.live(); l != nil {
		return l.Link(ctx, req, old)
	}
	return d.preLinkMake(ctx, req, old)
}

// Mknod makes a FIFO or socket: a pre-boot one before start.
func (d *filesDir) Mknod(ctx context.Context, req *fuse.MknodRequest) (fusefs.Node, error) {
	if l := d.live(); l != nil {
		return l.Mknod(ctx, req)
	}
	return d.preMknodMake(ctx, req)
}

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
	return d.addName(ctx, name, e, "")
}

// addName is addPre; with from set, e must still be the entry at from (a
// hard link: ENOENT when that name went meanwhile).
func (d *filesDir) addName(ctx context.Context, name string, e *preEntry, from string) (string, error) {
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
	if c.state != stateNew {
		return "", fuse.Errno(syscall.EBUSY)
	}
	if c.pre[p] != nil {
		return "", fuse.Errno(syscall.EEXIST)
	}
	if from != "" && c.pre[from] != e {
		return "", fuse.Errno(syscall.ENOENT)
	}
	if t := c.pre[e.target]; e.kind == preKindImageLink && t != nil && t.kind == preKindFile {
		e = t // the image's file was copied up meanwhile: a name of that
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
	shared := from // the new name shares e, which must still be there
	switch {
	case e != nil && e.isDir():
		return nil, fuse.Errno(syscall.EPERM)
	case e != nil && e.kind == preKindImageLink:
		e, shared = &preEntry{kind: preKindImageLink, target: e.target}, ""
	case e == nil:
		fi, ok := c.imageEntry(ctx, from)
		if !ok {
			return nil, fuse.Errno(syscall.ENOENT)
		}
		if !os.FileMode(fi.Mode).IsRegular() {
			return nil, c.fail(failf(syscall.EPERM, "link %s: only regular files of the image can be linked before start", req.NewName))
		}
		e, shared = &preEntry{kind: preKindImageLink, target: from}, ""
	}
	p, err := d.addName(ctx, req.NewName, e, shared)
	if err != nil {
		return nil, err
	}
	c.f.invalidateAttr(old) // its link count changed
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

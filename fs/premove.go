package fs

import (
	"context"
	"path"
	"strings"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// Removing and renaming in files/: after start the container's own calls,
// before start the pre-boot entries' (an image's file only after start).

// Remove removes a name: before start, a pre-boot entry's (its spool goes
// with its last name).
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
	case c.state != stateNew:
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

// Rename renames: before start, pre-boot entries (a directory with all it
// holds), within one container's files/ (EXDEV otherwise).
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
	case c.state != stateNew:
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

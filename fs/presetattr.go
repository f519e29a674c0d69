package fs

import (
	"os"
	"syscall"
	"time"

	"bazil.org/fuse"
)

// maxPreBoot bounds a pre-boot file's size as ext4 bounds a file's (EFBIG
// beyond); what is never written stays a hole, here and on the node.
const maxPreBoot = 16 << 40

// preModeBits are the mode bits a pre-boot entry keeps.
const preModeBits = os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky

// preSetattr changes pre-boot entry e (c.mu held): its size (a file's,
// up to maxPreBoot, else EFBIG), its mode, and its time to "now". An
// owner or a given time cannot be carried to the container by a pre-boot
// file: ENOTSUP, with the reason in the container's error file.
func preSetattr(c *ctr, e *preEntry, req *fuse.SetattrRequest) error {
	if c.state != "new" {
		return fuse.Errno(syscall.EBUSY)
	}
	v := req.Valid
	if v.Uid() || v.Gid() || (v.Atime() && !v.AtimeNow()) || (v.Mtime() && !v.MtimeNow()) {
		return c.failLocked(failf(syscall.ENOTSUP, "before start, a pre-boot file's owner and times cannot be set (its mode and size can): start the container first"))
	}
	if v&^setattrKnown != 0 {
		return c.failLocked(failf(syscall.ENOTSUP, "setattr fields %v are not supported", v&^setattrKnown))
	}
	if v.Size() {
		if e.dir {
			return fuse.Errno(syscall.EISDIR)
		}
		if req.Size > maxPreBoot {
			return c.failLocked(failf(syscall.EFBIG, "a file may hold at most %d bytes", int64(maxPreBoot)))
		}
		if err := e.body.truncate(int64(req.Size)); err != nil {
			return c.failLocked(err)
		}
		e.mtime = time.Now()
	}
	if v.Mode() {
		e.mode = uint32(req.Mode & preModeBits)
	}
	if v.AtimeNow() || v.MtimeNow() {
		e.mtime = time.Now()
	}
	return nil
}

// failLocked is fail with c.mu held.
func (c *ctr) failLocked(err error) error {
	c.errMsg = err.Error()
	c.f.log.Info("rejected", "container", c.name, "err", err)
	return errno(err)
}

package fs

import (
	"os"
	"syscall"
	"time"

	"bazil.org/fuse"
)

// maxPreBoot bounds one pre-boot file: pre-boot files travel in the spawn
// message (at most 1 MiB in all), so a bigger one is refused at once with
// EFBIG rather than held in memory and failing the start.
const maxPreBoot = 768 << 10

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
			return c.failLocked(failf(syscall.EFBIG, "a pre-boot file may hold %d bytes; bigger files can be written after start", maxPreBoot))
		}
		if req.Size <= uint64(len(e.data)) {
			e.data = e.data[:req.Size]
		} else {
			e.data = append(e.data, make([]byte, int(req.Size)-len(e.data))...)
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

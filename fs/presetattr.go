package fs

import (
	"os"
	"syscall"
	"time"

	"bazil.org/fuse"

	"github.com/tffs/tffs/sdk"
)

// maxPreBoot bounds a pre-boot file's size as ext4 bounds a file's (EFBIG
// beyond); what is never written stays a hole, here and on the node.
const maxPreBoot = 16 << 40

// preModeBits are the mode bits a pre-boot entry keeps.
const preModeBits = os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky

// preSetattr changes pre-boot entry e (c.mu held): its size (a file's,
// up to maxPreBoot, else EFBIG), mode, owner and times, all applied in
// the container at start (putPreBoot).
func preSetattr(c *ctr, e *preEntry, req *fuse.SetattrRequest) error {
	if c.state != stateNew {
		return fuse.Errno(syscall.EBUSY)
	}
	v := req.Valid
	if v&^setattrKnown != 0 {
		return c.failLocked(failf(syscall.ENOTSUP, "setattr fields %v are not supported", v&^setattrKnown))
	}
	if v.Size() {
		if e.isDir() {
			return fuse.Errno(syscall.EISDIR)
		}
		if e.kind != preKindFile {
			return fuse.Errno(syscall.EINVAL)
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
	if v.Uid() {
		e.uidSet, e.uid = true, req.Uid
	}
	if v.Gid() {
		e.gidSet, e.gid = true, req.Gid
	}
	now := time.Now()
	if v.Atime() || v.AtimeNow() {
		e.atime, e.timesSet = req.Atime, true
		if v.AtimeNow() {
			e.atime = now
		}
	}
	if v.Mtime() || v.MtimeNow() {
		e.mtime, e.timesSet = req.Mtime, true
		if v.MtimeNow() {
			e.mtime = now
		}
	}
	return nil
}

// failLocked is fail with c.mu held.
func (c *ctr) failLocked(err error) error {
	c.errMsg = err.Error()
	c.f.log.Info("rejected", "container", c.name, "err", err)
	return errno(err)
}

// attr shows e's owner and times (c.mu held).
func (e *preEntry) attr(a *fuse.Attr) {
	a.Mtime, a.Atime, a.Ctime = e.mtime, e.mtime, e.mtime
	if !e.atime.IsZero() {
		a.Atime = e.atime
	}
	if e.uidSet {
		a.Uid = e.uid
	}
	if e.gidSet {
		a.Gid = e.gid
	}
}

// ownerTimes is the setattr that gives a put entry its owner and times
// (Valid 0 when there is nothing to set).
func (e *preEntry) ownerTimes(p string) sdk.SetattrRequest {
	r := sdk.SetattrRequest{Path: p}
	if e.uidSet {
		r.Valid |= sdk.SetUID
		r.UID = e.uid
	}
	if e.gidSet {
		r.Valid |= sdk.SetGID
		r.GID = e.gid
	}
	if e.timesSet || e.kind == preKindFile {
		r.Valid |= sdk.SetMtime
		r.Mtime = e.mtime.UnixNano()
		if !e.atime.IsZero() {
			r.Valid |= sdk.SetAtime
			r.Atime = e.atime.UnixNano()
		}
	}
	return r
}

package fs

import (
	"context"
	"os"
	"path"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// Consistency of a started container's files/ (see README, "The
// filesystem"): the kernel keeps names (missing ones too: negative
// entries) and attributes for attrTTL, and this mount keeps what a listing
// or stat returned for statTTL (statcache.go: a directory listed within
// statTTL is known completely), so a change made inside the container
// shows within attrTTL+statTTL; a file's bytes are read afresh at each
// open (close-to-open), and every change made through this mount is done
// on the node before the call returns and updates what this mount kept
// about the paths it touched (the kernel updates its own names).
const (
	attrTTL = time.Second
	statTTL = time.Second
)

// info describes path p of the started container sc, from the cache when
// fresh; else, in a directory listed before (one being worked in), by
// listing it again, else by a stat.
func (c *ctr) info(ctx context.Context, sc *sdk.Container, p string) (sdk.FileInfo, error) {
	if fi, missing, ok := c.stats.get(p); ok {
		if missing {
			return fi, fuse.Errno(syscall.ENOENT)
		}
		return fi, nil
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	if dir := path.Dir(p); p != "/" && c.stats.relist(dir) {
		since := c.stats.version()
		if list, err := sc.List(cctx, dir); err == nil {
			c.stats.listed(dir, list, since)
			if fi, missing, ok := c.stats.get(p); ok {
				if missing {
					return fi, fuse.Errno(syscall.ENOENT)
				}
				return fi, nil
			}
		}
	}
	writes := c.writes.Load()
	fi, err := sc.Stat(cctx, p)
	kept := c.writes.Load() == writes
	if err != nil {
		err = errno(err)
		if err == fuse.Errno(syscall.ENOENT) && kept {
			c.stats.putMissing(p)
		}
		return fi, err
	}
	if kept {
		c.stats.put(p, fi)
	}
	return fi, nil
}

// wrote records that a write to p reached the node or failed: p's cached
// information is stale.
func (c *ctr) wrote(p string) {
	c.writes.Add(1)
	c.stats.written(p)
}

// infoAttr fills a from a container file's information.
func infoAttr(a *fuse.Attr, fi sdk.FileInfo) {
	a.Valid = attrTTL
	a.Mode = os.FileMode(fi.Mode)
	a.Size = uint64(fi.Size)
	a.Mtime = fi.ModTime
	a.BlockSize = 4096
	if os.FileMode(fi.Mode).IsRegular() {
		a.BlockSize = sdk.MaxIOSize // cp and friends then read and write in calls of the largest size
	}
	if fi.Full {
		a.Inode, a.Nlink, a.Blocks = fi.Ino, fi.Nlink, uint64(fi.Blocks)
		a.Uid, a.Gid, a.Rdev = fi.UID, fi.GID, uint32(fi.Rdev)
		a.Atime, a.Ctime, a.Mtime = time.Unix(0, fi.Atime), time.Unix(0, fi.Ctime), time.Unix(0, fi.Mtime)
	} else {
		a.Nlink, a.Uid, a.Gid = 1, uid, gid
		a.Atime, a.Ctime = fi.ModTime, fi.ModTime
		a.Blocks = (a.Size + 511) / 512
	}
}

// unixPerm is the low 12 bits of st_mode for m (permissions with setuid,
// setgid and sticky).
func unixPerm(m os.FileMode) uint32 {
	out := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		out |= syscall.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		out |= syscall.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		out |= syscall.S_ISVTX
	}
	return out
}

// modeOfUnix is unixPerm's inverse: the permissions, setuid, setgid and
// sticky bits of the low 12 bits u of an st_mode.
func modeOfUnix(u uint32) os.FileMode {
	m := os.FileMode(u & 0o777)
	if u&syscall.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if u&syscall.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if u&syscall.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

// setattrKnown are the setattr fields the mount carries out (the handle,
// lock owner and ctime come along with the others and need nothing).
const setattrKnown = fuse.SetattrMode | fuse.SetattrUid | fuse.SetattrGid | fuse.SetattrSize |
	fuse.SetattrAtime | fuse.SetattrMtime | fuse.SetattrAtimeNow | fuse.SetattrMtimeNow |
	fuse.SetattrHandle | fuse.SetattrLockOwner | fuse.SetattrCTime

// setattr carries out a setattr on the container's file at p itself and
// answers with its attributes after the change. A field the mount cannot
// set is ENOTSUP, never ignored.
func (c *ctr) setattr(ctx context.Context, p string, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) (sdk.FileInfo, error) {
	sc := c.started()
	if sc == nil {
		return sdk.FileInfo{}, fuse.Errno(syscall.ENOENT)
	}
	v := req.Valid
	if v&^setattrKnown != 0 {
		return sdk.FileInfo{}, c.fail(failf(syscall.ENOTSUP, "setattr %s: fields %v are not supported", p, v&^setattrKnown))
	}
	sr := setattrOf(p, req)
	c.writing.barrier()
	cctx, cancel := callCtx(ctx)
	defer cancel()
	c.stats.drop(p)
	fi, err := sc.Setattr(cctx, sr)
	if err != nil {
		return fi, c.fail(err)
	}
	c.stats.put(p, fi)
	infoAttr(&resp.Attr, fi)
	return fi, nil
}

// setattrOf is the node's setattr of p for req's fields (those in
// setattrKnown).
func setattrOf(p string, req *fuse.SetattrRequest) sdk.SetattrRequest {
	v := req.Valid
	sr := sdk.SetattrRequest{Path: p}
	if v.Mode() {
		sr.Valid |= sdk.SetMode
		sr.Mode = unixPerm(req.Mode)
	}
	if v.Uid() {
		sr.Valid |= sdk.SetUID
		sr.UID = req.Uid
	}
	if v.Gid() {
		sr.Valid |= sdk.SetGID
		sr.GID = req.Gid
	}
	if v.Size() {
		sr.Valid |= sdk.SetSize
		sr.Size = int64(req.Size)
	}
	if v.Atime() || v.AtimeNow() {
		sr.Valid |= sdk.SetAtime
		sr.Atime, sr.AtimeNow = req.Atime.UnixNano(), v.AtimeNow()
	}
	if v.Mtime() || v.MtimeNow() {
		sr.Valid |= sdk.SetMtime
		sr.Mtime, sr.MtimeNow = req.Mtime.UnixNano(), v.MtimeNow()
	}
	return sr
}

// direntOf is the directory entry of a container file.
func direntOf(fi sdk.FileInfo) fuse.Dirent {
	return fuse.Dirent{Name: path.Base(fi.Name), Type: direntType(os.FileMode(fi.Mode)), Inode: fi.Ino}
}

// invalidateAttr drops the kernel's attributes of n (another name of a
// file this mount just changed, e.g. the first name of a new hard link)
// before the change is answered. (The kernel takes no lock for it that the
// request being served holds.)
func (f *FS) invalidateAttr(n fusefs.Node) {
	if srv := f.srv.Load(); srv != nil {
		_ = srv.InvalidateNodeAttr(n) // ErrNotCached: nothing to drop
	}
}

// EntryTTL is how long the kernel keeps the name of a started container's
// file (the bazil.org/fuse copy in third_party asks every node it returns
// from a lookup or a create).
func (d *liveDir) EntryTTL() time.Duration     { return attrTTL }
func (f *liveFile) EntryTTL() time.Duration    { return attrTTL }
func (l *liveLink) EntryTTL() time.Duration    { return attrTTL }
func (s *liveSpecial) EntryTTL() time.Duration { return attrTTL }

// statfs answers statfs(2) on a started container's path with the
// container's filesystem.
func (c *ctr) statfs(ctx context.Context, p string, resp *fuse.StatfsResponse) error {
	sc := c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	st, err := sc.StatFS(cctx, p)
	if err != nil {
		return errno(err)
	}
	*resp = fuse.StatfsResponse{Blocks: st.Blocks, Bfree: st.Bfree, Bavail: st.Bavail, Files: st.Files,
		Ffree: st.Ffree, Bsize: st.Bsize, Namelen: st.Namelen, Frsize: st.Frsize}
	return nil
}

// Statfs gives the container's filesystem (the bazil.org/fuse copy in
// third_party asks the node a statfs is made on).
func (d *liveDir) Statfs(ctx context.Context, req *fuse.StatfsRequest, resp *fuse.StatfsResponse) error {
	return d.v.c.statfs(ctx, d.path(), resp)
}

// Statfs gives the container's filesystem.
func (f *liveFile) Statfs(ctx context.Context, req *fuse.StatfsRequest, resp *fuse.StatfsResponse) error {
	return f.v.c.statfs(ctx, f.path(), resp)
}

// maxNegs bounds the negative entries a view remembers; past it, those
// the kernel no longer keeps are forgotten.
const maxNegs = 1 << 12

// keptMissing records that the kernel keeps p as missing for attrTTL, so
// that a reset can drop it.
func (v *ctrDir) keptMissing(p string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	if v.negs == nil {
		v.negs = map[string]time.Time{}
	}
	if len(v.negs) >= maxNegs {
		for k, at := range v.negs {
			if now.Sub(at) > attrTTL {
				delete(v.negs, k)
			}
		}
		if len(v.negs) >= maxNegs {
			v.negs = map[string]time.Time{}
		}
	}
	v.negs[p] = now
}

// forgetFiles drops what this mount and the kernel keep about the
// container's files (after a reset, which replaces them all): the stat
// cache, and the kernel's names under files/ in every view (missing
// ones too).
func (c *ctr) forgetFiles() {
	c.stats.reset()
	srv := c.f.srv.Load()
	if srv == nil {
		return
	}
	views := c.viewList()
	type entry struct {
		parent fusefs.Node
		name   string
	}
	var drop []entry
	for _, v := range views {
		var top fusefs.Node
		for _, e := range v.entries {
			if e.name == "files" {
				top = e.node
			}
		}
		v.mu.Lock()
		paths := make([]string, 0, len(v.files)+len(v.negs))
		for p := range v.files {
			paths = append(paths, p)
		}
		for p := range v.negs {
			paths = append(paths, p)
		}
		v.negs = nil
		for _, p := range paths {
			if p == "/" {
				continue
			}
			parent := top
			if dir := path.Dir(p); dir != "/" {
				parent = v.files[dir]
			}
			if parent != nil {
				drop = append(drop, entry{parent, path.Base(p)})
			}
		}
		v.mu.Unlock()
	}
	for _, e := range drop {
		_ = srv.InvalidateEntry(e.parent, e.name) // ErrNotCached: nothing to drop
	}
}

package fs

import (
	"context"
	"os"
	"path"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// liveDir is a directory of a started container's files/. Every change is
// made on the node by one call, which answers with the errno the
// container's filesystem gave.
type liveDir struct {
	v *ctrDir
	pathOf
}

var (
	_ fusefs.Node               = (*liveDir)(nil)
	_ fusefs.NodeSetattrer      = (*liveDir)(nil)
	_ fusefs.NodeStringLookuper = (*liveDir)(nil)
	_ fusefs.HandleReadDirAller = (*liveDir)(nil)
	_ fusefs.NodeMkdirer        = (*liveDir)(nil)
	_ fusefs.NodeCreater        = (*liveDir)(nil)
	_ fusefs.NodeRemover        = (*liveDir)(nil)
	_ fusefs.NodeRenamer        = (*liveDir)(nil)
	_ fusefs.NodeSymlinker      = (*liveDir)(nil)
	_ fusefs.NodeLinker         = (*liveDir)(nil)
	_ fusefs.NodeMknoder        = (*liveDir)(nil)
	_ fusefs.NodeFsyncer        = (*liveDir)(nil)
	_ fusefs.NodeReaddirPluser  = (*liveDir)(nil)
	_ fusefs.NodeReaddirPluser  = (*filesDir)(nil)
)

func (d *liveDir) child(name string) string { return path.Join(d.path(), name) }

// sc is the started container (ENOENT once it is not).
func (d *liveDir) sc() (*sdk.Container, error) {
	if sc := d.v.c.started(); sc != nil {
		return sc, nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *liveDir) Attr(ctx context.Context, a *fuse.Attr) error {
	sc, err := d.sc()
	if err != nil {
		return err
	}
	fi, err := d.v.c.info(ctx, sc, d.path())
	if err != nil {
		return err
	}
	infoAttr(a, fi)
	return nil
}

func (d *liveDir) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	_, err := d.v.c.setattr(ctx, d.path(), req, resp)
	return err
}

// Lookup is answered from a listing or stat made within statTTL (a name
// not in a fresh listing of the directory is missing), else by a stat on
// the node; the kernel keeps the name, and a missing name too (a negative
// entry, which a create through this mount replaces at once), for
// attrTTL.
func (d *liveDir) Lookup(ctx context.Context, name string) (fusefs.Node, error) {
	sc, err := d.sc()
	if err != nil {
		return nil, err
	}
	p := d.child(name)
	fi, err := d.v.c.info(ctx, sc, p)
	if err == fuse.Errno(syscall.ENOENT) {
		d.v.keptMissing(p)
		return nil, fusefs.NegativeEntry{Valid: attrTTL}
	}
	if err != nil {
		return nil, err
	}
	return d.v.liveNode(p, fi), nil
}

func (d *liveDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	sc, err := d.sc()
	if err != nil {
		return nil, err
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	since := d.v.c.stats.version()
	list, err := sc.List(cctx, d.path())
	if err != nil {
		return nil, errno(err)
	}
	d.v.c.stats.listed(d.path(), list, since)
	out := make([]fuse.Dirent, 0, len(list))
	for _, fi := range list {
		out = append(out, direntOf(fi))
	}
	return out, nil
}

// ReaddirPlus: a listing hands the kernel each entry's node and
// attributes (the lookups are answered from the listing just cached), so
// `ls -l` needs no lookup per entry.
func (d *liveDir) ReaddirPlus() bool { return true }

// ReaddirPlus: as liveDir's once the container is started.
func (d *filesDir) ReaddirPlus() bool { return d.live() != nil }

// made records what a call made at p and returns its node.
func (d *liveDir) made(p string, fi sdk.FileInfo) fusefs.Node {
	d.v.c.stats.made(p, fi)
	return d.v.liveNode(p, fi)
}

// failed forgets what is known of p after a change of it failed, and
// returns the errno.
func (d *liveDir) failed(p string, err error) error {
	d.v.c.stats.unknown(p)
	return d.v.c.fail(err)
}

func (d *liveDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	sc, err := d.sc()
	if err != nil {
		return nil, err
	}
	p := d.child(req.Name)
	cctx, cancel := callCtx(ctx)
	defer cancel()
	d.v.c.stats.drop(p)
	fi, err := sc.Make(cctx, sdk.MakeRequest{Path: p, Kind: sdk.MakeDir, Mode: unixPerm(req.Mode)})
	if err != nil {
		return nil, d.failed(p, err)
	}
	return d.made(p, fi), nil
}

// Create makes (or with O_EXCL only makes) the regular file on the node
// at once, O_TRUNC truncating it there, and opens it.
func (d *liveDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	sc, err := d.sc()
	if err != nil {
		return nil, nil, err
	}
	p := d.child(req.Name)
	cctx, cancel := callCtx(ctx)
	defer cancel()
	d.v.c.stats.drop(p)
	fi, err := sc.Make(cctx, sdk.MakeRequest{Path: p, Kind: sdk.MakeFile, Mode: unixPerm(req.Mode),
		Excl: req.Flags&fuse.OpenExclusive != 0, Trunc: req.Flags&fuse.OpenTruncate != 0})
	if err != nil {
		return nil, nil, d.failed(p, err)
	}
	n := d.made(p, fi)
	f, ok := n.(*liveFile)
	if !ok {
		return nil, nil, fuse.Errno(syscall.EEXIST)
	}
	resp.EntryValid = attrTTL
	h := f.open(req.Flags)
	if f.wb.pending() {
		f.forget() // fi may be from before writes on their way
	} else {
		f.know(fi) // what this mount made: a setattr of it may be queued
	}
	return f, h, nil
}

// Remove unlinks a file or removes an empty directory on the node. A
// regular file this mount holds open is renamed to a hidden name instead,
// removed when its last handle closes (as libfuse does), so open-unlink-
// use works.
func (d *liveDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	sc, err := d.sc()
	if err != nil {
		return err
	}
	p := d.child(req.Name)
	d.v.c.writing.barrier()
	cctx, cancel := callCtx(ctx)
	defer cancel()
	links := d.v.c.stats.otherNames(p) // their link count drops
	d.v.c.stats.drop(p)
	if !req.Dir {
		defer d.v.c.invalidatePaths(links)
		if f := d.v.c.openFile(p); f != nil {
			if err := f.hide(cctx, sc); err != nil {
				d.v.c.stats.unknown(p)
				return err
			}
			d.v.c.stats.renamed(p, f.path())
			return nil
		}
	}
	if err := sc.Remove(cctx, p, false); err != nil {
		return d.failed(p, err)
	}
	d.v.c.stats.removed(p)
	return nil
}

func (d *liveDir) Rename(ctx context.Context, req *fuse.RenameRequest, newDir fusefs.Node) error {
	var to string
	switch nd := newDir.(type) {
	case *liveDir:
		if nd.v.c != d.v.c {
			return fuse.Errno(syscall.EXDEV)
		}
		to = nd.child(req.NewName)
	case *filesDir:
		if nd.v.c != d.v.c {
			return fuse.Errno(syscall.EXDEV)
		}
		to = path.Join(nd.path(), req.NewName)
	default:
		return fuse.Errno(syscall.EXDEV)
	}
	sc, err := d.sc()
	if err != nil {
		return err
	}
	from := d.child(req.OldName)
	d.v.c.writing.barrier()
	cctx, cancel := callCtx(ctx)
	defer cancel()
	d.v.c.stats.drop(from, to)
	if f := d.v.c.openFile(to); f != nil && to != from {
		if err := f.hide(cctx, sc); err != nil {
			d.v.c.stats.unknown(to)
			return err
		}
		d.v.c.stats.renamed(to, f.path())
	}
	if err := sc.Rename(cctx, from, to); err != nil {
		d.v.c.stats.unknown(from)
		return d.failed(to, err)
	}
	d.v.c.stats.renamed(from, to)
	d.v.c.movePaths(from, to)
	return nil
}

// Symlink stores the target as given; readlink through the mount shows
// where it leads (linktarget.go).
func (d *liveDir) Symlink(ctx context.Context, req *fuse.SymlinkRequest) (fusefs.Node, error) {
	return d.make(ctx, sdk.MakeRequest{Path: d.child(req.NewName), Kind: sdk.MakeSymlink, Target: req.Target})
}

// Link makes a hard link to a file of the same container.
func (d *liveDir) Link(ctx context.Context, req *fuse.LinkRequest, old fusefs.Node) (fusefs.Node, error) {
	var (
		target string
		c      *ctr
	)
	switch o := old.(type) {
	case *liveFile:
		target, c = o.path(), o.v.c
	case *liveLink:
		target, c = o.path(), o.v.c
	case *liveSpecial:
		target, c = o.path(), o.v.c
	case *preFile:
		target, c = o.path(), o.c
	}
	if c != d.v.c {
		return nil, fuse.Errno(syscall.EXDEV)
	}
	d.v.c.stats.drop(target)
	n, err := d.make(ctx, sdk.MakeRequest{Path: d.child(req.NewName), Kind: sdk.MakeLink, Target: target})
	if err == nil {
		d.v.c.f.invalidateAttr(old) // its link count changed
	}
	return n, err
}

// Mknod makes a FIFO, socket or empty regular file as the container's
// own; devices are EPERM (a container's root may not make them either).
func (d *liveDir) Mknod(ctx context.Context, req *fuse.MknodRequest) (fusefs.Node, error) {
	r := sdk.MakeRequest{Path: d.child(req.Name), Mode: unixPerm(req.Mode)}
	switch {
	case req.Mode&os.ModeNamedPipe != 0:
		r.Kind = sdk.MakeFIFO
	case req.Mode&os.ModeSocket != 0:
		r.Kind = sdk.MakeSocket
	case req.Mode&os.ModeDevice != 0:
		return nil, fuse.Errno(syscall.EPERM)
	case req.Mode.IsRegular():
		r.Kind, r.Excl = sdk.MakeFile, true
	default:
		return nil, fuse.Errno(syscall.EINVAL)
	}
	return d.make(ctx, r)
}

func (d *liveDir) make(ctx context.Context, r sdk.MakeRequest) (fusefs.Node, error) {
	sc, err := d.sc()
	if err != nil {
		return nil, err
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	d.v.c.stats.drop(r.Path)
	fi, err := sc.Make(cctx, r)
	if err != nil {
		return nil, d.failed(r.Path, err)
	}
	return d.made(r.Path, fi), nil
}

// Fsync fsyncs the directory on the node.
func (d *liveDir) Fsync(ctx context.Context, req *fuse.FsyncRequest) error {
	sc, err := d.sc()
	if err != nil {
		return err
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	return errno(sc.Sync(cctx, d.path()))
}

// liveNode returns the one node of this view for the container's file at
// p, of the kind its information gives.
func (v *ctrDir) liveNode(p string, fi sdk.FileInfo) fusefs.Node {
	m := os.FileMode(fi.Mode)
	switch {
	case m.IsDir():
		return v.node(p, kindLiveDir, func() fusefs.Node { return withPath(&liveDir{v: v}, p) })
	case m&os.ModeSymlink != 0:
		return v.node(p, kindLiveLink, func() fusefs.Node { return withPath(&liveLink{v: v}, p) })
	case m.IsRegular():
		return v.node(p, kindLiveFile, func() fusefs.Node { return withPath(&liveFile{v: v}, p) })
	}
	return v.node(p, kindLiveSpecial, func() fusefs.Node { return withPath(&liveSpecial{v: v}, p) })
}

// invalidatePaths drops the kernel's attributes of the container's files
// at the paths given, in every view.
func (c *ctr) invalidatePaths(ps []string) {
	if len(ps) == 0 {
		return
	}
	views := c.viewList()
	for _, v := range views {
		for _, p := range ps {
			v.mu.Lock()
			n := v.files[p]
			v.mu.Unlock()
			if n != nil {
				c.f.invalidateAttr(n)
			}
		}
	}
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.FSStatfser = (*liveDir)(nil)
)

package fs

import (
	"context"
	"os"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// preFile is a pre-boot file: its bytes live here until start. The kernel
// may still hold it after start (a name it cached, an open directory):
// then it stands for the container's file at its path.
type preFile struct {
	c *ctr
	v *ctrDir
	pathOf
}

// live is the container's file at f's path once the container started.
func (f *preFile) live() *liveFile {
	if f.c.started() == nil {
		return nil
	}
	p := f.path()
	return f.v.node(p, kindLiveFile, func() fusefs.Node { return withPath(&liveFile{v: f.v}, p) }).(*liveFile)
}

// entry is f's pre-boot file (nil for a file of the image, or an image
// link before it is copied up).
func (f *preFile) entry() *preEntry {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if e := f.c.pre[f.path()]; e != nil && e.kind != preKindImageLink {
		return e
	}
	return nil
}

// imagePath is the image's file f shows when it has no pre-boot bytes:
// its own path, or the file an image link names.
func (f *preFile) imagePath() string {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if e := f.c.pre[f.path()]; e != nil && e.kind == preKindImageLink {
		return e.target
	}
	return f.path()
}

func (f *preFile) Attr(ctx context.Context, a *fuse.Attr) error {
	if l := f.live(); l != nil {
		return l.Attr(ctx, a)
	}
	f.c.mu.Lock()
	e := f.c.pre[f.path()]
	if e != nil && e.kind != preKindImageLink {
		f.c.preAttrLocked(a, f.path(), e)
	}
	f.c.mu.Unlock()
	if e != nil && e.kind != preKindImageLink {
		return nil
	}
	ip := f.imagePath()
	fi, ok := f.c.imageEntry(ctx, ip)
	if !ok {
		return fuse.Errno(syscall.ENOENT)
	}
	fileAttr(a, os.FileMode(fi.Mode).Perm(), int(fi.Size))
	a.Mtime = fi.ModTime
	f.c.mu.Lock()
	a.Nlink = max(fi.Nlink, 1) + f.c.linksLocked(ip, nil)
	f.c.mu.Unlock()
	return nil
}

// Open serves a pre-boot file; a file of the image is read from the image,
// or copied up first when opened for writing.
func (f *preFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if l := f.live(); l != nil {
		return l.Open(ctx, req, resp)
	}
	resp.Flags |= fuse.OpenDirectIO
	if f.entry() != nil {
		return f, nil
	}
	ip := f.imagePath()
	if req.Flags.IsReadOnly() {
		fi, ok := f.c.imageEntry(ctx, ip)
		if !ok {
			return nil, fuse.Errno(syscall.ENOENT)
		}
		data, err := f.c.readImageFile(ctx, ip, fi)
		if err != nil {
			return nil, err
		}
		return &imageHandle{data: data}, nil
	}
	if _, err := f.c.copyUp(ctx, ip, req.Flags&fuse.OpenTruncate != 0); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *preFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if l := f.live(); l != nil {
		return l.Setattr(ctx, req, resp)
	}
	if f.entry() == nil {
		if _, err := f.c.copyUp(ctx, f.imagePath(), req.Valid.Size() && req.Size == 0); err != nil {
			return err
		}
	}
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	e := f.c.pre[f.path()]
	if e == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	return preSetattr(f.c, e, req)
}

// Read reads the pre-boot file's spool; a handle opened before start
// and read after it reads the container's file (the spool is gone).
func (f *preFile) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	f.c.mu.Lock()
	if e := f.c.pre[f.path()]; e != nil {
		data, err := e.body.readAt(req.Size, req.Offset)
		f.c.mu.Unlock()
		if err != nil {
			return errno(err)
		}
		resp.Data = data
		return nil
	}
	f.c.mu.Unlock()
	if sc := f.c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		data, err := sc.ReadAt(cctx, f.path(), req.Offset, min(req.Size, sdk.MaxIOSize))
		if err != nil {
			return f.c.fail(err)
		}
		resp.Data = data
	}
	return nil
}

func (f *preFile) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	e := f.c.pre[f.path()]
	if e == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if f.c.state != stateNew {
		return fuse.Errno(syscall.EBUSY)
	}
	if err := e.body.writeAt(req.Data, req.Offset); err != nil {
		return f.c.failLocked(err)
	}
	e.mtime = time.Now()
	resp.Size = len(req.Data)
	return nil
}

// Fsync fsyncs the container's file once started; before start the file
// is on no disk yet.
func (f *preFile) Fsync(ctx context.Context, req *fuse.FsyncRequest) error {
	if l := f.live(); l != nil {
		return l.Fsync(ctx, req)
	}
	return nil
}

var (
	_ fusefs.Node          = (*preFile)(nil)
	_ fusefs.NodeOpener    = (*preFile)(nil)
	_ fusefs.NodeSetattrer = (*preFile)(nil)
	_ fusefs.NodeFsyncer   = (*preFile)(nil)
	_ fusefs.HandleReader  = (*preFile)(nil)
	_ fusefs.HandleWriter  = (*preFile)(nil)
)

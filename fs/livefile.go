package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// Reads and writes of a started container's regular files go to the node
// at the offset asked (pread, pwrite there): nothing is staged on this
// host. Writes are pipelined (writebehind.go), sequential reads streamed
// (readstream.go). What close, flush and fsync promise:
//   - write(2) returns once the bytes are queued for the node; a process
//     in the container reads them once they reached it;
//   - flush (close) waits until every write queued before it is in the
//     container's file (its page cache on the node) and reports a write
//     that failed;
//   - fsync(2) and fdatasync(2) do that too, then fsync the file on the
//     node: when they return, the bytes are on the node's disk;
//   - O_TRUNC truncates at open, O_APPEND writes go one at a time at the
//     node's end of the file, O_EXCL is decided by the node;
//   - byte-range locks (fcntl, flock) are kept by this host's kernel: they
//     exclude processes using this mount, not processes in the container.

// liveFile is a regular file of a started container.
type liveFile struct {
	v *ctrDir
	pathOf

	mu      sync.Mutex
	handles int  // open handles of this mount
	hidden  bool // removed while open: renamed to a hidden name, removed at the last close

	pred    predicted     // attributes once the queued changes reached the node (deferattr.go)
	wb      writeBehind   // writes and setattrs on their way to the node
	changes atomic.Uint64 // writes and setattrs through this mount (ends read streams)
}

var (
	_ fusefs.Node           = (*liveFile)(nil)
	_ fusefs.NodeOpener     = (*liveFile)(nil)
	_ fusefs.NodeSetattrer  = (*liveFile)(nil)
	_ fusefs.NodeFsyncer    = (*liveFile)(nil)
	_ fusefs.HandleReader   = (*liveHandle)(nil)
	_ fusefs.HandleWriter   = (*liveHandle)(nil)
	_ fusefs.HandleFlusher  = (*liveHandle)(nil)
	_ fusefs.HandleReleaser = (*liveHandle)(nil)
)

func (f *liveFile) Attr(ctx context.Context, a *fuse.Attr) error {
	sc := f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if fi, ok := f.predictedAttr(); ok {
		infoAttr(a, fi)
		return nil
	}
	f.wb.barrier()
	fi, err := f.v.c.info(ctx, sc, f.path())
	if err != nil {
		return err
	}
	infoAttr(a, fi)
	return nil
}

// Open costs no call: the kernel looked the file up (and truncated it on
// the node for O_TRUNC) before. The kernel's page cache of the file is
// dropped at each open.
func (f *liveFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if f.v.c.started() == nil {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	return f.open(req.Flags), nil
}

func (f *liveFile) open(flags fuse.OpenFlags) *liveHandle {
	f.mu.Lock()
	f.handles++
	f.mu.Unlock()
	return &liveHandle{f: f, appendMode: flags&fuse.OpenAppend != 0, rs: newReadStream()}
}

// Setattr of a file open here is queued behind its writes when it may be
// (deferattr.go), else done at once.
func (f *liveFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	f.changes.Add(1)
	if sc := f.v.c.started(); sc != nil && f.deferAttr(ctx, sc, req, resp) {
		return nil
	}
	changes := f.changes.Load()
	fi, err := f.v.c.setattr(ctx, f.path(), req, resp)
	f.mu.Lock()
	if err == nil && f.handles > 0 && f.changes.Load() == changes {
		f.pred = predicted{fi: fi, ok: fi.Full}
	} else {
		f.pred = predicted{}
	}
	f.mu.Unlock()
	return err
}

// Fsync waits for the writes queued before it, then fsyncs the file on
// the node.
func (f *liveFile) Fsync(ctx context.Context, req *fuse.FsyncRequest) error {
	sc := f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	f.wb.barrier()
	if err := f.wb.takeErr(); err != nil {
		return err
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	if err := sc.Sync(cctx, f.path()); err != nil {
		return f.v.c.fail(err)
	}
	return nil
}

// hide renames a file removed while this mount holds it open to a hidden
// name in its directory; the last close removes it.
func (f *liveFile) hide(ctx context.Context, sc *sdk.Container) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	from := f.path()
	to := path.Join(path.Dir(from), ".tffs-hidden-"+hex.EncodeToString(rnd[:]))
	if err := sc.Rename(ctx, from, to); err != nil {
		return f.v.c.fail(err)
	}
	f.v.c.movePaths(from, to)
	f.mu.Lock()
	f.hidden = true
	f.mu.Unlock()
	return nil
}

// openFile is the regular file at p that a handle of this mount holds
// open, if any.
func (c *ctr) openFile(p string) *liveFile {
	views := c.viewList()
	for _, v := range views {
		v.mu.Lock()
		f, _ := v.files[p].(*liveFile)
		v.mu.Unlock()
		if f != nil {
			f.mu.Lock()
			open := f.handles > 0
			f.mu.Unlock()
			if open {
				return f
			}
		}
	}
	return nil
}

// liveHandle is an open regular file of a started container.
type liveHandle struct {
	f          *liveFile
	appendMode bool
	rs         *readStream
}

// Read waits for this mount's writes to the file queued before it, then
// serves the read from the handle's stream or by a call.
func (h *liveHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	sc := h.f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	f := h.f
	f.wb.barrier()
	size := min(req.Size, sdk.MaxIOSize)
	changes := f.changes.Load()
	if data, ok := h.rs.read(req.Offset, size, changes, timeoutOf(ctx)); ok {
		resp.Data = data
		return nil
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	data, err := sc.ReadAt(cctx, f.path(), req.Offset, size)
	if err != nil {
		return errno(err)
	}
	resp.Data = data
	if from, start := h.rs.called(req.Offset, len(data), size); start {
		h.startStream(sc, from, changes)
	}
	return nil
}

// startStream asks the node for the file from offset from on.
func (h *liveHandle) startStream(sc *sdk.Container, from int64, changes uint64) {
	slots := h.f.v.c.f.readSlots
	if !slots.take() {
		return // the mount holds as many streams as it may: reads go by call
	}
	sctx, cancel := context.WithCancel(context.Background())
	rc, _, err := sc.FetchRange(sctx, h.f.path(), from, 0)
	if err != nil {
		slots.give()
		cancel()
		h.f.v.c.f.log.Debug("read stream not started", "path", h.f.path(), "err", err)
		return
	}
	h.rs.begin(rc, cancel, from, changes, slots.give)
}

// Write queues the write for the node and returns (writebehind.go); an
// O_APPEND write goes at once, after the writes queued before it.
func (h *liveHandle) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	sc := h.f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if len(req.Data) > sdk.MaxIOSize {
		return fuse.Errno(syscall.EINVAL)
	}
	f, c := h.f, h.f.v.c
	f.changes.Add(1)
	p := f.path()
	if h.appendMode || req.FileFlags&fuse.OpenAppend != 0 {
		f.wb.barrier()
		if err := f.wb.takeErr(); err != nil {
			return err
		}
		f.forget() // the node chooses the offset
		cctx, cancel := callCtx(ctx)
		defer cancel()
		n, _, err := sc.WriteAt(cctx, p, req.Offset, req.Data, true, false)
		c.wrote(p)
		if err != nil {
			return c.fail(err)
		}
		resp.Size = n
		return nil
	}
	handled, err := f.wb.writeStreamed(ctx, c, f, req.Offset, req.Data, func(off int64) (streamSink, error) {
		w, err := sc.OpenWriter(ctx, p, off)
		if err != nil {
			return nil, err
		}
		return w, nil
	})
	if handled {
		if err != nil {
			f.forget()
			return err
		}
		f.grew(req.Offset+int64(len(req.Data)), time.Now())
		resp.Size = len(req.Data)
		return nil
	}
	data := bytes.Clone(req.Data) // the request's buffer is reused once it is answered
	seq, err := f.wb.queue(&c.writing, f, req.Offset, len(data))
	if err != nil {
		return err
	}
	f.grew(req.Offset+int64(len(data)), time.Now())
	timeout := timeoutOf(ctx)
	go func() {
		cctx, cancel := context.WithTimeout(context.Background(), timeout)
		n, _, err := sc.WriteAt(cctx, p, req.Offset, data, false, false)
		cancel()
		c.wrote(p)
		if err == nil && n < len(data) {
			err = failf(syscall.EIO, "write %s: %d of %d bytes written", p, n, len(data))
		}
		if err != nil {
			err = c.fail(err)
		}
		f.wb.done(&c.writing, f, seq, err)
	}()
	resp.Size = len(data)
	return nil
}

// Flush (each close of a descriptor) waits for the writes queued before
// it and reports one that failed.
func (h *liveHandle) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	h.f.wb.barrier()
	return h.f.wb.takeErr()
}

// Release removes a file removed while open once its last handle closes.
func (h *liveHandle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	f := h.f
	h.rs.end()
	f.wb.barrier()
	f.mu.Lock()
	f.handles--
	if f.handles == 0 {
		f.pred = predicted{}
	}
	gone := f.handles == 0 && f.hidden
	f.mu.Unlock()
	if !gone {
		return nil
	}
	sc := f.v.c.started()
	if sc == nil {
		return nil
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	if err := sc.Remove(cctx, f.path(), false); err != nil && !isNotFound(err) {
		f.v.c.f.log.Warn("remove of a file removed while open", "path", f.path(), "err", err)
	}
	return nil
}

func isNotFound(err error) bool { return errno(err) == fuse.Errno(syscall.ENOENT) }

// liveLink is a symbolic link in a started container; readlink shows a
// path to where it leads that cannot leave files/ (see linktarget.go).
type liveLink struct {
	v *ctrDir
	pathOf
}

var (
	_ fusefs.NodeReadlinker = (*liveLink)(nil)
	_ fusefs.NodeSetattrer  = (*liveLink)(nil)
)

func (l *liveLink) Attr(ctx context.Context, a *fuse.Attr) error {
	sc := l.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	fi, err := l.v.c.info(ctx, sc, l.path())
	if err != nil {
		return err
	}
	infoAttr(a, fi)
	a.Size = uint64(len(shownTarget(l.path(), fi.Resolved)))
	return nil
}

func (l *liveLink) Readlink(ctx context.Context, req *fuse.ReadlinkRequest) (string, error) {
	sc := l.v.c.started()
	if sc == nil {
		return "", fuse.Errno(syscall.ENOENT)
	}
	fi, err := l.v.c.info(ctx, sc, l.path())
	if err != nil {
		return "", err
	}
	return shownTarget(l.path(), fi.Resolved), nil
}

// Setattr changes the link itself (lchown, lutimes).
func (l *liveLink) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	fi, err := l.v.c.setattr(ctx, l.path(), req, resp)
	if err == nil {
		resp.Attr.Size = uint64(len(shownTarget(l.path(), fi.Resolved)))
	}
	return err
}

// liveSpecial is a FIFO, socket or device of a started container. The
// node never opens it; opening it here is the kernel's business (a FIFO
// opened through the mount is a pipe of this host, not the container's).
type liveSpecial struct {
	v *ctrDir
	pathOf
}

var _ fusefs.NodeSetattrer = (*liveSpecial)(nil)

func (s *liveSpecial) Attr(ctx context.Context, a *fuse.Attr) error {
	sc := s.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	fi, err := s.v.c.info(ctx, sc, s.path())
	if err != nil {
		return err
	}
	infoAttr(a, fi)
	return nil
}

func (s *liveSpecial) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	_, err := s.v.c.setattr(ctx, s.path(), req, resp)
	return err
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.FSStatfser = (*liveFile)(nil)
	_ fusefs.Node       = (*liveLink)(nil)
	_ fusefs.Node       = (*liveSpecial)(nil)
)

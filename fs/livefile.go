package fs

import (
	"context"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// No lock of the mount is held across a call to the location: a handle's
// mutex guards its fields only, and an operation that must wait for
// another's network call (a write for the file's current bytes, a flush
// for the put before it) waits on a channel it can be interrupted from.
// So `ls -l` and `stat` answer while a `cp` is uploading.

// liveFile is a regular file in a started container.
type liveFile struct {
	v *ctrDir
	pathOf

	mu      sync.Mutex
	writers map[*liveHandle]bool
}

func (f *liveFile) Attr(ctx context.Context, a *fuse.Attr) error {
	sc := f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	fi, err := sc.Stat(cctx, f.path())
	size, mode := fi.Size, os.FileMode(fi.Mode).Perm()
	for _, h := range f.openWriters() {
		if s, m, ok := h.size(); ok && (s > size || err != nil) {
			if err != nil { // not in the container yet
				mode, fi.ModTime = m, time.Now()
			}
			size, err = s, nil
		}
	}
	if err != nil {
		return errno(err)
	}
	fileAttr(a, mode, int(size))
	a.Mtime = fi.ModTime
	return nil
}

func (f *liveFile) openWriters() []*liveHandle {
	f.mu.Lock()
	defer f.mu.Unlock()
	hs := make([]*liveHandle, 0, len(f.writers))
	for h := range f.writers {
		hs = append(hs, h)
	}
	return hs
}

func (f *liveFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	resp.Flags |= fuse.OpenDirectIO
	h, err := f.open(!req.Flags.IsReadOnly(), !req.Flags.IsReadOnly())
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (f *liveFile) open(write, needBase bool) (*liveHandle, error) {
	sc := f.v.c.started()
	if sc == nil {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	h := &liveHandle{f: f, mode: 0o644}
	if write {
		tmp, err := os.CreateTemp("", "tffs-put-")
		if err != nil {
			return nil, fuse.Errno(syscall.EIO)
		}
		h.tmp, h.needBase = tmp, needBase
		f.mu.Lock()
		if f.writers == nil {
			f.writers = map[*liveHandle]bool{}
		}
		f.writers[h] = true
		f.mu.Unlock()
	}
	return h, nil
}

func (f *liveFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if !req.Valid.Size() {
		return nil // modes and times are the container's business
	}
	hs := f.openWriters()
	for _, h := range hs {
		if err := h.truncate(ctx, int64(req.Size)); err != nil {
			return err
		}
	}
	if len(hs) > 0 {
		return nil
	}
	if req.Size != 0 {
		return fuse.Errno(syscall.ENOTSUP)
	}
	sc := f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	if err := sc.Put(cctx, f.path(), nil); err != nil {
		return f.v.c.fail(err)
	}
	return nil
}

// liveHandle reads by streaming the file from the container (from the
// offset of the first read, so `tail` moves only the end) and writes into
// a temporary file that is put into the container on flush.
type liveHandle struct {
	f   *liveFile
	tmp *os.File // set at open, for writers only; closed at release

	mu       sync.Mutex // guards what follows; never held across I/O
	mode     os.FileMode
	rc       io.ReadCloser // the open fetch; nil while a read has it out
	rpos     int64         // the file offset rc reads next
	rcancel  context.CancelFunc
	needBase bool          // the file's current bytes are not fetched yet
	base     chan struct{} // closed when the running fetch of the base ends
	putting  chan struct{} // closed when the running put ends
	dirty    bool
	tsize    int64 // the temporary file's size
	released bool
}

// size is the size and mode of what is being written, when the handle
// writes and has the file's bytes.
func (h *liveHandle) size() (int64, os.FileMode, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tmp == nil || h.needBase {
		return 0, 0, false
	}
	return h.tsize, h.mode, true
}

// wait waits for ch to close, or fails with EINTR when ctx ends.
func wait(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fuse.Errno(syscall.EINTR)
	}
}

func (h *liveHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	h.mu.Lock()
	if h.tmp != nil && !h.needBase {
		h.mu.Unlock()
		buf := make([]byte, req.Size)
		n, err := h.tmp.ReadAt(buf, req.Offset)
		if err != nil && err != io.EOF {
			return fuse.Errno(syscall.EIO)
		}
		resp.Data = buf[:n]
		return nil
	}
	// Take the open fetch out, so no lock is held while reading it; a read
	// at the same time starts a fetch of its own.
	rc, rcancel, pos := h.rc, h.rcancel, h.rpos
	h.rc = nil
	h.mu.Unlock()
	if rc != nil && pos != req.Offset {
		rc.Close() // tells the node to stop sending
		rcancel()
		rc = nil
	}
	if rc == nil {
		sc := h.f.v.c.started()
		if sc == nil {
			return fuse.Errno(syscall.ENOENT)
		}
		// The fetch lives as long as the handle reads sequentially from
		// here; a request that is interrupted, or a stalled location,
		// cancels it.
		fctx, cancel := context.WithCancel(context.Background())
		stop := context.AfterFunc(ctx, cancel)
		t := time.AfterFunc(timeoutOf(ctx), cancel)
		r, _, err := sc.FetchRange(fctx, h.f.path(), req.Offset, 0)
		stop()
		t.Stop()
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errno(err)
		}
		rc, rcancel, pos = r, cancel, req.Offset
	}
	stop := context.AfterFunc(ctx, rcancel)
	t := time.AfterFunc(timeoutOf(ctx), rcancel)
	buf := make([]byte, req.Size)
	n, err := io.ReadFull(rc, buf)
	interrupted := !stop()
	t.Stop()
	resp.Data = buf[:n]
	if err != nil {
		rc.Close()
		rcancel()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if interrupted && ctx.Err() != nil {
			return ctx.Err()
		}
		return errno(err)
	}
	h.mu.Lock()
	keep := h.rc == nil && !h.released
	if keep {
		h.rc, h.rcancel, h.rpos = rc, rcancel, pos+int64(n)
	}
	h.mu.Unlock()
	if !keep {
		rc.Close()
		rcancel()
	}
	return nil
}

// ensureBase copies the file's current contents into the temporary file
// once, before the first change; changes made meanwhile wait for it.
func (h *liveHandle) ensureBase(ctx context.Context) error {
	for {
		h.mu.Lock()
		if !h.needBase {
			h.mu.Unlock()
			return nil
		}
		if ch := h.base; ch != nil {
			h.mu.Unlock()
			if err := wait(ctx, ch); err != nil {
				return err
			}
			continue
		}
		ch := make(chan struct{})
		h.base = ch
		h.mu.Unlock()
		mode, size, err := h.fetchBase(ctx)
		h.mu.Lock()
		h.base = nil
		if err == nil {
			h.needBase, h.tsize = false, size
			if mode != 0 {
				h.mode = mode
			}
		}
		h.mu.Unlock()
		close(ch)
		return err
	}
}

// fetchBase writes the file's current bytes into the temporary file (none
// when the file does not exist) and returns its mode and size.
func (h *liveHandle) fetchBase(ctx context.Context) (os.FileMode, int64, error) {
	sc := h.f.v.c.started()
	if sc == nil {
		return 0, 0, fuse.Errno(syscall.ENOENT)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	rc, fi, err := sc.FetchReader(cctx, h.f.path())
	if err != nil {
		if isNotFound(err) {
			return 0, 0, nil
		}
		return 0, 0, errno(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.NewOffsetWriter(h.tmp, 0), rc)
	if err != nil {
		return 0, 0, errno(err)
	}
	return os.FileMode(fi.Mode).Perm(), n, nil
}

func isNotFound(err error) bool { return errno(err) == fuse.Errno(syscall.ENOENT) }

func (h *liveHandle) truncate(ctx context.Context, size int64) error {
	if size == 0 {
		// The current bytes are not needed, but a fetch of them that runs
		// must not land after the truncation.
		h.mu.Lock()
		ch := h.base
		h.mu.Unlock()
		if ch != nil {
			if err := wait(ctx, ch); err != nil {
				return err
			}
		}
		h.mu.Lock()
		h.needBase = false
		h.mu.Unlock()
	} else if err := h.ensureBase(ctx); err != nil {
		return err
	}
	if err := h.tmp.Truncate(size); err != nil {
		return fuse.Errno(syscall.EIO)
	}
	h.mu.Lock()
	h.tsize, h.dirty = size, true
	h.mu.Unlock()
	return nil
}

func (h *liveHandle) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	if h.tmp == nil {
		return fuse.Errno(syscall.EBADF)
	}
	if err := h.ensureBase(ctx); err != nil {
		return err
	}
	n, err := h.tmp.WriteAt(req.Data, req.Offset)
	if err != nil {
		return fuse.Errno(syscall.EIO)
	}
	h.mu.Lock()
	if end := req.Offset + int64(n); end > h.tsize {
		h.tsize = end
	}
	h.dirty = true
	h.mu.Unlock()
	resp.Size = n
	return nil
}

// put sends the temporary file into the container if it changed. Puts of
// one handle go one at a time, in order; a write during a put leaves the
// handle dirty, so the next flush sends it again.
func (h *liveHandle) put(ctx context.Context) error {
	if h.tmp == nil {
		return nil
	}
	h.mu.Lock()
	for h.putting != nil {
		ch := h.putting
		h.mu.Unlock()
		if err := wait(ctx, ch); err != nil {
			return err
		}
		h.mu.Lock()
	}
	if !h.dirty {
		h.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	h.putting, h.dirty = ch, false
	size, mode := h.tsize, h.mode
	h.mu.Unlock()
	err := h.upload(ctx, io.NewSectionReader(h.tmp, 0, size), mode)
	h.mu.Lock()
	h.putting = nil
	if err != nil {
		h.dirty = true
	}
	h.mu.Unlock()
	close(ch)
	return err
}

// upload puts r at the file's path.
func (h *liveHandle) upload(ctx context.Context, r io.Reader, mode os.FileMode) error {
	sc := h.f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	// A put may take long, but not without progress: it fails (EIO) when
	// the location takes no bytes for the mount's call timeout.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := time.AfterFunc(timeoutOf(ctx), cancel)
	defer stall.Stop()
	pr := &progressReader{r: r, progress: func() { stall.Reset(timeoutOf(ctx)) }}
	if err := sc.PutReader(cctx, h.f.path(), pr, mode); err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return h.f.v.c.fail(failf(syscall.EIO, "put %s: no progress for %v", h.f.path(), timeoutOf(ctx)))
		}
		return h.f.v.c.fail(err)
	}
	return nil
}

func (h *liveHandle) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	return h.put(ctx)
}

// Release ends the handle: an open fetch is abandoned (the node stops
// sending it), what was written is put.
func (h *liveHandle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	h.mu.Lock()
	rc, rcancel := h.rc, h.rcancel
	h.rc, h.released = nil, true
	h.mu.Unlock()
	if rc != nil {
		rc.Close()
		rcancel()
	}
	if h.tmp != nil {
		if err := h.put(ctx); err != nil {
			h.f.v.c.f.log.Warn("put on release", "path", h.f.path(), "err", err)
		}
		h.tmp.Close()
		os.Remove(h.tmp.Name())
		h.f.mu.Lock()
		delete(h.f.writers, h)
		h.f.mu.Unlock()
	}
	return nil
}

// progressReader calls progress on every read, so a stalled upload can be
// told from a slow one.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.progress()
	return p.r.Read(b)
}

package fs

import (
	"context"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// preEntry is a pre-boot file or directory, kept in memory until start.
type preEntry struct {
	dir   bool
	mode  uint32
	data  []byte
	mtime time.Time
}

// filesDir is a directory under a container's files/: before start the
// pre-boot tree, after start the container's filesystem. Paths are
// absolute in the container and always cleaned, so nothing leaves it.
type filesDir struct {
	v *ctrDir
	pathOf
}

func (d *filesDir) child(name string) string { return path.Join(d.path(), name) }

// node returns the one node for a path under this view, replacing it when
// its kind changed.
func (v *ctrDir) node(p string, kind string, mk func() fusefs.Node) fusefs.Node {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := v.files[p]; n != nil && nodeKind(n) == kind {
		return n
	}
	n := mk()
	v.files[p] = n
	return n
}

func nodeKind(n fusefs.Node) string {
	switch n.(type) {
	case *filesDir:
		return "dir"
	case *preFile:
		return "pre"
	case *liveFile:
		return "file"
	case *liveLink:
		return "link"
	case *preLink:
		return "prelink"
	}
	return ""
}

func (d *filesDir) nodeFor(p string, isDir bool, mode os.FileMode, live bool) fusefs.Node {
	c := d.v.c
	switch {
	case isDir:
		return d.v.node(p, "dir", func() fusefs.Node { return withPath(&filesDir{v: d.v}, p) })
	case !live && mode&os.ModeSymlink != 0:
		return d.v.node(p, "prelink", func() fusefs.Node { return withPath(&preLink{c: c}, p) })
	case !live:
		return d.v.node(p, "pre", func() fusefs.Node { return withPath(&preFile{c: c}, p) })
	case mode&os.ModeSymlink != 0:
		return d.v.node(p, "link", func() fusefs.Node { return withPath(&liveLink{v: d.v}, p) })
	}
	return d.v.node(p, "file", func() fusefs.Node { return withPath(&liveFile{v: d.v}, p) })
}

func (d *filesDir) Attr(ctx context.Context, a *fuse.Attr) error {
	dirAttr(a, 0o755)
	if sc := d.v.c.started(); sc != nil && d.path() != "/" {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		fi, err := sc.Stat(cctx, d.path())
		if err != nil {
			return errno(err)
		}
		a.Mode = os.ModeDir | os.FileMode(fi.Mode).Perm()
		a.Mtime = fi.ModTime
		return nil
	}
	if d.v.c.preEntry(d.path()) == nil {
		if fi, ok := d.v.c.imageEntry(ctx, d.path()); ok {
			a.Mode = os.ModeDir | os.FileMode(fi.Mode).Perm()
			a.Mtime = fi.ModTime
		}
	}
	return nil
}

func (d *filesDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = 0
	c := d.v.c
	p := d.child(req.Name)
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		fi, err := sc.Stat(cctx, p)
		if err != nil {
			return nil, errno(err)
		}
		m := os.FileMode(fi.Mode)
		return d.nodeFor(p, m.IsDir(), m, true), nil
	}
	if e := c.preEntry(p); e != nil {
		return d.nodeFor(p, e.dir, 0, false), nil
	}
	if fi, ok := c.imageEntry(ctx, p); ok {
		m := os.FileMode(fi.Mode)
		return d.nodeFor(p, m.IsDir(), m, false), nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *filesDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	c := d.v.c
	var out []fuse.Dirent
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		list, err := sc.List(cctx, d.path())
		if err != nil {
			return nil, errno(err)
		}
		for _, fi := range list {
			out = append(out, fuse.Dirent{Name: path.Base(fi.Name), Type: direntType(os.FileMode(fi.Mode))})
		}
		return out, nil
	}
	seen := map[string]bool{}
	c.mu.Lock()
	for p, e := range c.pre {
		if p != d.path() && path.Dir(p) == d.path() {
			t := fuse.DT_File
			if e.dir {
				t = fuse.DT_Dir
			}
			out = append(out, fuse.Dirent{Name: path.Base(p), Type: t})
			seen[path.Base(p)] = true
		}
	}
	c.mu.Unlock()
	for name, fi := range c.imageDir(ctx, d.path()) {
		if !seen[name] {
			out = append(out, fuse.Dirent{Name: name, Type: direntType(os.FileMode(fi.Mode))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *filesDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	c := d.v.c
	p := d.child(req.Name)
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if _, err := sc.Stat(cctx, p); err == nil {
			return nil, fuse.Errno(syscall.EEXIST)
		}
		if err := sc.Mkdir(cctx, p, req.Mode.Perm()); err != nil {
			return nil, c.fail(err)
		}
		return d.nodeFor(p, true, 0, true), nil
	}
	if _, ok := c.imageEntry(ctx, p); ok {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != "new" {
		return nil, fuse.Errno(syscall.EBUSY)
	}
	if c.pre[p] != nil {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	c.pre[p] = &preEntry{dir: true, mode: uint32(req.Mode.Perm()), mtime: time.Now()}
	return d.nodeFor(p, true, 0, false), nil
}

func (d *filesDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	c := d.v.c
	p := d.child(req.Name)
	resp.Flags |= fuse.OpenDirectIO
	if sc := c.started(); sc != nil {
		n := d.nodeFor(p, false, 0, true).(*liveFile)
		h, err := n.open(true, false)
		if err != nil {
			return nil, nil, err
		}
		h.dirty = true // creating an empty file is a change too
		h.mode = req.Mode.Perm()
		return n, h, nil
	}
	c.mu.Lock()
	if c.state != "new" {
		c.mu.Unlock()
		return nil, nil, fuse.Errno(syscall.EBUSY)
	}
	e := c.pre[p]
	if e == nil {
		e = &preEntry{mode: uint32(req.Mode.Perm()), mtime: time.Now()}
		c.pre[p] = e
	} else if req.Flags&fuse.OpenTruncate != 0 {
		e.data = nil
	}
	c.mu.Unlock()
	n := d.nodeFor(p, false, 0, false)
	return n, n, nil
}

func (d *filesDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	c := d.v.c
	p := d.child(req.Name)
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if err := sc.Remove(cctx, p, false); err != nil {
			return c.fail(err)
		}
		return nil
	}
	if c.preEntry(p) == nil {
		if _, ok := c.imageEntry(ctx, p); ok {
			return c.fail(failf(syscall.EBUSY, "%s belongs to the image: it can be removed after start", p))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pre[p] == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	for q := range c.pre {
		if strings.HasPrefix(q, p+"/") {
			return fuse.Errno(syscall.ENOTEMPTY)
		}
	}
	delete(c.pre, p)
	return nil
}

func (d *filesDir) Rename(ctx context.Context, req *fuse.RenameRequest, newDir fusefs.Node) error {
	nd, ok := newDir.(*filesDir)
	if !ok || nd.v.c != d.v.c {
		return fuse.Errno(syscall.EXDEV)
	}
	c := d.v.c
	from, to := d.child(req.OldName), nd.child(req.NewName)
	if sc := c.started(); sc != nil {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		if err := sc.Rename(cctx, from, to); err != nil {
			return c.fail(err)
		}
		c.movePaths(from, to)
		return nil
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
	case c.state != "new":
		c.mu.Unlock()
		return fuse.Errno(syscall.EBUSY)
	case e.dir && (to == from || strings.HasPrefix(to, from+"/")):
		c.mu.Unlock()
		return fuse.Errno(syscall.EINVAL)
	}
	if old := c.pre[to]; old != nil && old.dir != e.dir {
		c.mu.Unlock()
		if old.dir {
			return fuse.Errno(syscall.EISDIR)
		}
		return fuse.Errno(syscall.ENOTDIR)
	}
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

// preFile is a pre-boot file: its bytes live here until start.
type preFile struct {
	c *ctr
	pathOf
}

func (f *preFile) entry() *preEntry {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.c.pre[f.path()]
}

func (f *preFile) Attr(ctx context.Context, a *fuse.Attr) error {
	f.c.mu.Lock()
	e := f.c.pre[f.path()]
	if e != nil {
		fileAttr(a, os.FileMode(e.mode), len(e.data))
		a.Mtime = e.mtime
	}
	f.c.mu.Unlock()
	if e != nil {
		return nil
	}
	fi, ok := f.c.imageEntry(ctx, f.path())
	if !ok {
		return fuse.Errno(syscall.ENOENT)
	}
	fileAttr(a, os.FileMode(fi.Mode).Perm(), int(fi.Size))
	a.Mtime = fi.ModTime
	return nil
}

// Open serves a pre-boot file; a file of the image is read from the image,
// or copied up first when opened for writing.
func (f *preFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	resp.Flags |= fuse.OpenDirectIO
	if f.entry() != nil {
		return f, nil
	}
	if req.Flags.IsReadOnly() {
		fi, ok := f.c.imageEntry(ctx, f.path())
		if !ok {
			return nil, fuse.Errno(syscall.ENOENT)
		}
		data, err := f.c.readImageFile(ctx, f.path(), fi)
		if err != nil {
			return nil, err
		}
		return &imageHandle{data: data}, nil
	}
	if _, err := f.c.copyUp(ctx, f.path(), req.Flags&fuse.OpenTruncate != 0); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *preFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if f.entry() == nil {
		if _, err := f.c.copyUp(ctx, f.path(), req.Valid.Size() && req.Size == 0); err != nil {
			return err
		}
	}
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	e := f.c.pre[f.path()]
	if e == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if f.c.state != "new" {
		return fuse.Errno(syscall.EBUSY)
	}
	if req.Valid.Size() {
		if req.Size <= uint64(len(e.data)) {
			e.data = e.data[:req.Size]
		} else {
			e.data = append(e.data, make([]byte, int(req.Size)-len(e.data))...)
		}
	}
	if req.Valid.Mode() {
		e.mode = uint32(req.Mode.Perm())
	}
	return nil
}

func (f *preFile) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if e := f.c.pre[f.path()]; e != nil {
		resp.Data = append([]byte(nil), sliceAt(e.data, req.Offset, req.Size)...)
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
	if f.c.state != "new" {
		return fuse.Errno(syscall.EBUSY)
	}
	end := int(req.Offset) + len(req.Data)
	if end > len(e.data) {
		e.data = append(e.data, make([]byte, end-len(e.data))...)
	}
	copy(e.data[req.Offset:], req.Data)
	e.mtime = time.Now()
	resp.Size = len(req.Data)
	return nil
}

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
	size := fi.Size
	f.mu.Lock()
	for h := range f.writers {
		if s := h.size(); s > size || err != nil {
			size, err = s, nil
		}
	}
	f.mu.Unlock()
	if err != nil {
		return errno(err)
	}
	fileAttr(a, os.FileMode(fi.Mode).Perm(), int(size))
	a.Mtime = fi.ModTime
	return nil
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
	f.mu.Lock()
	hs := make([]*liveHandle, 0, len(f.writers))
	for h := range f.writers {
		hs = append(hs, h)
	}
	f.mu.Unlock()
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

// liveHandle reads by streaming the file from the container and writes
// into a temporary file that is put into the container on flush.
type liveHandle struct {
	f    *liveFile
	mode os.FileMode

	mu       sync.Mutex
	rc       io.ReadCloser
	rpos     int64
	rcancel  context.CancelFunc
	tmp      *os.File
	needBase bool // the file's current bytes are not fetched yet
	dirty    bool
}

func (h *liveHandle) size() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tmp == nil || h.needBase {
		return 0
	}
	st, err := h.tmp.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

func (h *liveHandle) closeReader() {
	if h.rc != nil {
		h.rc.Close()
		h.rcancel()
		h.rc = nil
	}
}

func (h *liveHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tmp != nil && !h.needBase {
		buf := make([]byte, req.Size)
		n, err := h.tmp.ReadAt(buf, req.Offset)
		if err != nil && err != io.EOF {
			return fuse.Errno(syscall.EIO)
		}
		resp.Data = buf[:n]
		return nil
	}
	sc := h.f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if h.rc != nil && h.rpos != req.Offset {
		h.closeReader()
	}
	// The fetch lives as long as the handle reads sequentially; a request
	// that is interrupted, or a stalled location, cancels it.
	if h.rc == nil {
		fctx, cancel := context.WithCancel(context.Background())
		stop := context.AfterFunc(ctx, cancel)
		t := time.AfterFunc(timeoutOf(ctx), cancel)
		rc, _, err := sc.FetchReader(fctx, h.f.path())
		stop()
		t.Stop()
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errno(err)
		}
		h.rc, h.rcancel, h.rpos = rc, cancel, 0
		if req.Offset > 0 {
			n, _ := io.CopyN(io.Discard, rc, req.Offset)
			h.rpos = n
			if n < req.Offset {
				return nil
			}
		}
	}
	stop := context.AfterFunc(ctx, h.rcancel)
	t := time.AfterFunc(timeoutOf(ctx), h.rcancel)
	buf := make([]byte, req.Size)
	n, err := io.ReadFull(h.rc, buf)
	interrupted := !stop()
	t.Stop()
	h.rpos += int64(n)
	resp.Data = buf[:n]
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		h.closeReader()
		if interrupted && ctx.Err() != nil {
			return ctx.Err()
		}
		return errno(err)
	}
	if err != nil {
		h.closeReader()
	}
	return nil
}

// fetchBase copies the file's current contents into the temporary file.
func (h *liveHandle) fetchBase(ctx context.Context) error {
	if !h.needBase {
		return nil
	}
	sc := h.f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	rc, fi, err := sc.FetchReader(cctx, h.f.path())
	if err == nil {
		defer rc.Close()
		h.mode = os.FileMode(fi.Mode).Perm()
		if _, err := io.Copy(h.tmp, rc); err != nil {
			return errno(err)
		}
	} else if !isNotFound(err) {
		return errno(err)
	}
	h.needBase = false
	return nil
}

func isNotFound(err error) bool { return errno(err) == fuse.Errno(syscall.ENOENT) }

func (h *liveHandle) truncate(ctx context.Context, size int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size == 0 {
		h.needBase = false
	} else if err := h.fetchBase(ctx); err != nil {
		return err
	}
	if err := h.tmp.Truncate(size); err != nil {
		return fuse.Errno(syscall.EIO)
	}
	h.dirty = true
	return nil
}

func (h *liveHandle) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tmp == nil {
		return fuse.Errno(syscall.EBADF)
	}
	if err := h.fetchBase(ctx); err != nil {
		return err
	}
	n, err := h.tmp.WriteAt(req.Data, req.Offset)
	if err != nil {
		return fuse.Errno(syscall.EIO)
	}
	h.dirty = true
	resp.Size = n
	return nil
}

// put sends the temporary file into the container if it changed.
func (h *liveHandle) put(ctx context.Context) error {
	if h.tmp == nil || !h.dirty {
		return nil
	}
	sc := h.f.v.c.started()
	if sc == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if _, err := h.tmp.Seek(0, io.SeekStart); err != nil {
		return fuse.Errno(syscall.EIO)
	}
	// A put may take long, but not without progress: it fails (EIO) when
	// the location takes no bytes for the mount's call timeout.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := time.AfterFunc(timeoutOf(ctx), cancel)
	defer stall.Stop()
	r := &progressReader{r: h.tmp, progress: func() { stall.Reset(timeoutOf(ctx)) }}
	if err := sc.PutReader(cctx, h.f.path(), r, h.mode); err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return h.f.v.c.fail(failf(syscall.EIO, "put %s: no progress for %v", h.f.path(), timeoutOf(ctx)))
		}
		return h.f.v.c.fail(err)
	}
	h.dirty = false
	return nil
}

func (h *liveHandle) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.put(ctx)
}

func (h *liveHandle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closeReader()
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

// liveLink is a symbolic link in a started container; readlink shows a
// path to where it leads that cannot leave files/ (see linktarget.go).
type liveLink struct {
	v *ctrDir
	pathOf
}

func (l *liveLink) Attr(ctx context.Context, a *fuse.Attr) error {
	t, err := l.Readlink(ctx, nil)
	return linkAttr(a, t, err)
}

func (l *liveLink) Readlink(ctx context.Context, req *fuse.ReadlinkRequest) (string, error) {
	sc := l.v.c.started()
	if sc == nil {
		return "", fuse.Errno(syscall.ENOENT)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	fi, err := sc.Stat(cctx, l.path())
	if err != nil {
		return "", errno(err)
	}
	return shownTarget(l.path(), fi.Resolved), nil
}

// pathOf is a node's path in the container. The kernel keeps a node across
// a rename, so a rename moves the paths of the node and all below it.
type pathOf struct{ v atomic.Pointer[string] }

func (p *pathOf) path() string     { return *p.v.Load() }
func (p *pathOf) setPath(s string) { p.v.Store(&s) }
func withPath[T interface{ setPath(string) }](n T, p string) T {
	n.setPath(p)
	return n
}

// movePaths re-keys the nodes at from and below to their new paths in
// every view of the container, after a rename in the container.
func (c *ctr) movePaths(from, to string) {
	c.mu.Lock()
	views := make([]*ctrDir, 0, len(c.views))
	for _, v := range c.views {
		views = append(views, v)
	}
	c.mu.Unlock()
	for _, v := range views {
		v.mu.Lock()
		moved := map[string]fusefs.Node{}
		for p, n := range v.files {
			if p == from || strings.HasPrefix(p, from+"/") {
				np := to + p[len(from):]
				if s, ok := n.(interface{ setPath(string) }); ok {
					s.setPath(np)
				}
				moved[np] = n
				delete(v.files, p)
			}
		}
		for p, n := range moved {
			v.files[p] = n
		}
		v.mu.Unlock()
	}
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

// linkAttr describes a symlink whose (rewritten) target is t.
func linkAttr(a *fuse.Attr, t string, err error) error {
	if err != nil {
		return err
	}
	fileAttr(a, os.ModeSymlink|0o777, len(t))
	return nil
}

package fs

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// textFile is a read-only file whose contents are computed on each stat
// and open (README, status, JSON snapshots). Its size is honest.
type textFile struct {
	get func() []byte
}

func (f *textFile) Attr(ctx context.Context, a *fuse.Attr) error {
	fileAttr(a, 0o444, len(f.get()))
	return nil
}

func (f *textFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if !req.Flags.IsReadOnly() {
		return nil, fuse.Errno(syscall.EACCES)
	}
	resp.Flags |= fuse.OpenDirectIO
	return &bytesHandle{b: f.get()}, nil
}

// bytesHandle serves a snapshot taken at open.
type bytesHandle struct{ b []byte }

func (h *bytesHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	resp.Data = sliceAt(h.b, req.Offset, req.Size)
	return nil
}

func sliceAt(b []byte, off int64, n int) []byte {
	if off >= int64(len(b)) {
		return nil
	}
	b = b[off:]
	if len(b) > n {
		b = b[:n]
	}
	return b
}

// streamFile is a stream (stdout, stderr, events): no size, never cached,
// every reader from the start, reads follow like tail -f.
type streamFile struct {
	get func() *stream
}

// Attr gives the stream's length so far as its size, so tools that poll
// the size (tail -f) see it grow.
func (f *streamFile) Attr(ctx context.Context, a *fuse.Attr) error {
	var n int64
	if s := f.get(); s != nil {
		n = s.size()
	}
	fileAttr(a, 0o444, int(n))
	return nil
}

func (f *streamFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if !req.Flags.IsReadOnly() {
		return nil, fuse.Errno(syscall.EACCES)
	}
	s := f.get()
	if s == nil {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	resp.Flags |= fuse.OpenDirectIO
	h := &streamHandle{s: s}
	s.addReader(&h.at)
	return h, nil
}

// streamHandle reads a stream at the offsets the kernel asks for. A read
// at the end blocks for more (EAGAIN instead with O_NONBLOCK, as tail -f
// polls); a "bytes missed" notice shifts the file's offsets from the
// stream's by delta.
type streamHandle struct {
	s     *stream
	mu    sync.Mutex
	delta int64 // stream position = file offset + delta
	at    int64 // how far it has read (guarded by s.mu; see stream.addReader)
}

var _ fusefs.HandleReleaser = (*streamHandle)(nil)

// Release stops the stream's writer waiting for this reader.
func (h *streamHandle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	h.s.removeReader(&h.at)
	return nil
}

func (h *streamHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	h.mu.Lock()
	pos := req.Offset + h.delta
	h.mu.Unlock()
	b, err := h.s.readAt(ctx, &pos, req.Size, req.FileFlags&fuse.OpenNonblock != 0, &h.at)
	if errors.Is(err, errWouldBlock) {
		return fuse.Errno(syscall.EAGAIN)
	}
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.delta = pos - (req.Offset + int64(len(b)))
	h.mu.Unlock()
	resp.Data = b
	return nil
}

// waitFile blocks a read until something finishes, then reads its result.
type waitFile struct {
	wait func(ctx context.Context) (string, error)
}

func (f *waitFile) Attr(ctx context.Context, a *fuse.Attr) error {
	fileAttr(a, 0o444, 0)
	return nil
}

func (f *waitFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	resp.Flags |= fuse.OpenDirectIO | fuse.OpenNonSeekable
	return &waitHandle{f: f}, nil
}

type waitHandle struct {
	f    *waitFile
	res  []byte
	done bool
	pos  int64
}

func (h *waitHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	if !h.done {
		s, err := h.f.wait(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errno(err)
		}
		h.res, h.done = []byte(s), true
	}
	resp.Data = sliceAt(h.res, h.pos, req.Size)
	h.pos += int64(len(resp.Data))
	return nil
}

// ctlFile takes one command per write; it reads empty.
type ctlFile struct {
	do func(ctx context.Context, cmd string) error
}

func (f *ctlFile) Attr(ctx context.Context, a *fuse.Attr) error {
	fileAttr(a, 0o644, 0)
	return nil
}

func (f *ctlFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	return nil // the shell's O_TRUNC
}

func (f *ctlFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	resp.Flags |= fuse.OpenDirectIO | fuse.OpenNonSeekable
	return f, nil
}

func (f *ctlFile) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	return nil
}

func (f *ctlFile) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	cmd := strings.TrimRight(string(req.Data), "\n")
	if err := f.do(ctx, cmd); err != nil {
		return errno(err)
	}
	resp.Size = len(req.Data)
	return nil
}

// propFile is a settable property (image, cmd, env): a write at offset 0
// replaces it, a later write appends; truncation to 0 clears it. set
// refuses when the state forbids it.
type propFile struct {
	get func() string
	set func(v string) error
}

func (f *propFile) Attr(ctx context.Context, a *fuse.Attr) error {
	fileAttr(a, 0o644, len(f.get()))
	return nil
}

func (f *propFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if req.Valid.Size() {
		v := f.get()
		if req.Size < uint64(len(v)) {
			if err := f.set(v[:req.Size]); err != nil {
				return errno(err)
			}
		}
	}
	return nil
}

func (f *propFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	resp.Flags |= fuse.OpenDirectIO
	return f, nil
}

func (f *propFile) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	resp.Data = sliceAt([]byte(f.get()), req.Offset, req.Size)
	return nil
}

func (f *propFile) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	v := f.get()
	if req.Offset < int64(len(v)) {
		v = v[:req.Offset]
	}
	if err := f.set(v + string(req.Data)); err != nil {
		return errno(err)
	}
	resp.Size = len(req.Data)
	return nil
}

// dirEntry is one fixed entry of a directory.
type dirEntry struct {
	name string
	node fusefs.Node
	typ  fuse.DirentType
}

// fixedDir is a directory with a fixed set of entries.
type fixedDir struct {
	entries []dirEntry
}

func (d *fixedDir) Attr(ctx context.Context, a *fuse.Attr) error {
	dirAttr(a, 0o555)
	return nil
}

func (d *fixedDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	// The entries never change: the kernel may keep them as long as names
	// of containers' files (each path walk down to a file under files/
	// would otherwise ask again for every fixed directory on the way).
	resp.EntryValid = attrTTL
	for _, e := range d.entries {
		if e.name == req.Name {
			return e.node, nil
		}
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *fixedDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	var out []fuse.Dirent
	for _, e := range d.entries {
		out = append(out, fuse.Dirent{Name: e.name, Type: e.typ})
	}
	return out, nil
}

// notYetDir is a part of the tree not built yet: empty, mkdir is ENOTSUP.
type notYetDir struct{ fixedDir }

func (d *notYetDir) Attr(ctx context.Context, a *fuse.Attr) error {
	dirAttr(a, 0o755)
	return nil
}

func (d *notYetDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	return nil, fuse.Errno(syscall.ENOTSUP)
}

// symlink is a fixed or computed symbolic link.
type symlink struct{ target func() string }

func (l *symlink) Attr(ctx context.Context, a *fuse.Attr) error {
	fileAttr(a, os.ModeSymlink|0o777, len(l.target()))
	return nil
}

func (l *symlink) Readlink(ctx context.Context, req *fuse.ReadlinkRequest) (string, error) {
	return l.target(), nil
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.HandleReader        = (*bytesHandle)(nil)
	_ fusefs.Node                = (*ctlFile)(nil)
	_ fusefs.NodeSetattrer       = (*ctlFile)(nil)
	_ fusefs.NodeOpener          = (*ctlFile)(nil)
	_ fusefs.HandleReader        = (*ctlFile)(nil)
	_ fusefs.HandleWriter        = (*ctlFile)(nil)
	_ fusefs.Node                = (*fixedDir)(nil)
	_ fusefs.NodeRequestLookuper = (*fixedDir)(nil)
	_ fusefs.Node                = (*notYetDir)(nil)
	_ fusefs.NodeMkdirer         = (*notYetDir)(nil)
	_ fusefs.Node                = (*propFile)(nil)
	_ fusefs.NodeSetattrer       = (*propFile)(nil)
	_ fusefs.NodeOpener          = (*propFile)(nil)
	_ fusefs.HandleReader        = (*propFile)(nil)
	_ fusefs.HandleWriter        = (*propFile)(nil)
	_ fusefs.Node                = (*streamFile)(nil)
	_ fusefs.NodeOpener          = (*streamFile)(nil)
	_ fusefs.HandleReader        = (*streamHandle)(nil)
	_ fusefs.Node                = (*symlink)(nil)
	_ fusefs.NodeReadlinker      = (*symlink)(nil)
	_ fusefs.Node                = (*textFile)(nil)
	_ fusefs.NodeOpener          = (*textFile)(nil)
	_ fusefs.Node                = (*waitFile)(nil)
	_ fusefs.NodeOpener          = (*waitFile)(nil)
	_ fusefs.HandleReader        = (*waitHandle)(nil)
)

package fs

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// Before start, a container's files/ shows its image's file tree (once
// `image` is written) with the pre-boot files laid over it: so
// `echo hi > files/www/index.html` works where the image has /www, and a
// file of the image can be read, or copied up and changed, before boot.

// maxCopyUp bounds an image file read or copied into memory before start.
const maxCopyUp = 64 << 20

// imageView caches the directory listings of the image a container will
// boot; writing another image reference starts a new cache.
type imageView struct {
	mu    sync.Mutex
	image string
	dirs  map[string]map[string]sdk.FileInfo // directory → base name → info
}

// imageRef returns the image reference written to the container, if any.
func (c *ctr) imageRef() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(c.image)
}

// imageDir lists directory dir of the container's image (nil when there is
// no image yet, the image is unknown or dir is not a directory in it).
func (c *ctr) imageDir(ctx context.Context, dir string) map[string]sdk.FileInfo {
	img := c.imageRef()
	if img == "" {
		return nil
	}
	iv := &c.imgView
	iv.mu.Lock()
	if iv.image != img {
		iv.image, iv.dirs = img, map[string]map[string]sdk.FileInfo{}
	}
	if m, ok := iv.dirs[dir]; ok {
		iv.mu.Unlock()
		return m
	}
	iv.mu.Unlock()
	cctx, cancel := callCtx(ctx)
	defer cancel()
	list, err := c.f.loc.ListImage(cctx, img, dir)
	m := make(map[string]sdk.FileInfo, len(list))
	for _, fi := range list {
		m[path.Base(fi.Name)] = fi
	}
	if err != nil && !errors.Is(err, sdk.ErrNotFound) && !errors.Is(err, sdk.ErrNotDir) {
		c.f.log.Debug("image listing failed", "image", img, "dir", dir, "err", err)
		return m // not cached: the next lookup tries again
	}
	iv.mu.Lock()
	if iv.image == img {
		iv.dirs[dir] = m
	}
	iv.mu.Unlock()
	return m
}

// imageEntry describes path p of the container's image.
func (c *ctr) imageEntry(ctx context.Context, p string) (sdk.FileInfo, bool) {
	if p == "/" {
		return sdk.FileInfo{}, false
	}
	fi, ok := c.imageDir(ctx, path.Dir(p))[path.Base(p)]
	return fi, ok
}

// readImageFile reads file p of the image into memory (bounded).
func (c *ctr) readImageFile(ctx context.Context, p string, fi sdk.FileInfo) ([]byte, error) {
	if fi.Size > maxCopyUp {
		return nil, c.fail(failf(syscall.EFBIG, "%s: the image's file is %d bytes; files over %d bytes can be read after start", p, fi.Size, maxCopyUp))
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	rc, _, err := c.f.loc.FetchImageFile(cctx, c.imageRef(), p)
	if err != nil {
		return nil, c.fail(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxCopyUp+1))
	if err != nil {
		return nil, c.fail(err)
	}
	return data, nil
}

// copyUp makes the image's file p a pre-boot file (its bytes, unless
// empty is set) so it can be changed before start.
func (c *ctr) copyUp(ctx context.Context, p string, empty bool) (*preEntry, error) {
	fi, ok := c.imageEntry(ctx, p)
	if !ok {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	if !os.FileMode(fi.Mode).IsRegular() {
		return nil, c.fail(failf(syscall.EINVAL, "%s is not a regular file of the image", p))
	}
	var data []byte
	if !empty {
		var err error
		if data, err = c.readImageFile(ctx, p, fi); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateNew {
		return nil, fuse.Errno(syscall.EBUSY)
	}
	if e := c.pre[p]; e != nil {
		return e, nil
	}
	e := &preEntry{mode: uint32(os.FileMode(fi.Mode).Perm()), mtime: time.Now()}
	if err := e.body.writeAt(data, 0); err != nil {
		return nil, c.failLocked(err)
	}
	c.pre[p] = e
	// The image links to p are now names of the copied-up file.
	for q, o := range c.pre {
		if o.kind == preKindImageLink && o.target == p {
			c.pre[q] = e
		}
	}
	return e, nil
}

// imageHandle reads a file of the image before start.
type imageHandle struct{ data []byte }

func (h *imageHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	resp.Data = sliceAt(h.data, req.Offset, req.Size)
	return nil
}

// preLink is a symbolic link of the image before start, shown like a
// live one (see linktarget.go) from where the master resolved it in the
// image's tree.
type preLink struct {
	c *ctr
	pathOf
}

func (l *preLink) Attr(ctx context.Context, a *fuse.Attr) error {
	t, err := l.Readlink(ctx, nil)
	return linkAttr(a, t, err)
}

func (l *preLink) Readlink(ctx context.Context, req *fuse.ReadlinkRequest) (string, error) {
	fi, ok := l.c.imageEntry(ctx, l.path())
	if !ok || os.FileMode(fi.Mode)&os.ModeSymlink == 0 {
		return "", fuse.Errno(syscall.ENOENT)
	}
	return shownTarget(l.path(), fi.Resolved), nil
}

var (
	_ fusefs.NodeReadlinker = (*preLink)(nil)
	_ fusefs.HandleReader   = (*imageHandle)(nil)
)

// preEntry returns the pre-boot entry at p, if any.
func (c *ctr) preEntry(p string) *preEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pre[p]
}

// direntType is the directory-entry type of a file mode.
func direntType(m os.FileMode) fuse.DirentType {
	switch {
	case m.IsDir():
		return fuse.DT_Dir
	case m&os.ModeSymlink != 0:
		return fuse.DT_Link
	case m&os.ModeNamedPipe != 0:
		return fuse.DT_FIFO
	case m&os.ModeSocket != 0:
		return fuse.DT_Socket
	case m&os.ModeCharDevice != 0:
		return fuse.DT_Char
	case m&os.ModeDevice != 0:
		return fuse.DT_Block
	}
	return fuse.DT_File
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.Node = (*preLink)(nil)
)

package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// maxSymlinks bounds symlink resolution of a final path component.
const maxSymlinks = 40

// splitPath validates an absolute container path and returns its cleaned
// directory and final component ("" for the root).
func splitPath(p string) (dir, base string, err error) {
	if !path.IsAbs(p) || strings.ContainsRune(p, 0) {
		return "", "", fmt.Errorf("path %q must be absolute and contain no NUL: %w", p, ErrInvalid)
	}
	clean := path.Clean(p)
	if clean == "/" {
		return "/", "", nil
	}
	return path.Dir(clean), path.Base(clean), nil
}

// openIn resolves p inside root (symlinks and ".." cannot leave it) and
// returns an O_PATH handle.
func openIn(root *os.File, p string) (*os.File, error) {
	f, err := pathrs.OpenatInRoot(root, p)
	if err != nil {
		return nil, wrapErr(err, p)
	}
	return f, nil
}

// statAt is fstatat without following a final symlink.
func statAt(dirfd *os.File, name, display string) (FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dirfd.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH); err != nil {
		return FileInfo{}, wrapErr(&os.PathError{Op: "lstat", Path: display, Err: err}, "stat")
	}
	fi := FileInfo{
		Name:    path.Base(display),
		Size:    st.Size,
		Mode:    fileMode(st.Mode),
		ModTime: time.Unix(st.Mtim.Unix()),
	}
	fillExtra(&fi, &st)
	if fi.Mode&os.ModeSymlink != 0 {
		fi.Link, _ = readlinkAt(dirfd, name)
	}
	return fi, nil
}

// readlinkAt reads the target of symlink name in dirfd.
func readlinkAt(dirfd *os.File, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(int(dirfd.Fd()), name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// fileMode converts a stat mode to an os.FileMode.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// resolveFinal follows symlinks in the final component of p (each target
// interpreted inside the container) and returns the path to write to.
func resolveFinal(root *os.File, p string) (string, error) {
	for range maxSymlinks {
		dir, base, err := splitPath(p)
		if err != nil || base == "" {
			return p, err
		}
		parent, err := pathrs.OpenatInRoot(root, dir)
		if err != nil {
			return p, nil // parent missing: created later
		}
		target, err := readlinkAt(parent, base)
		parent.Close()
		if err != nil {
			return p, nil // not a symlink (or missing)
		}
		if !path.IsAbs(target) {
			target = path.Join(dir, target)
		}
		p = path.Clean("/" + target)
	}
	return "", fmt.Errorf("%s: too many symlinks: %w", p, ErrInvalid)
}

// putAt writes r to p inside root: parent directories are created (0755),
// the data goes to a temporary file in the target directory (created
// O_EXCL|O_NOFOLLOW) which is then renamed over p. A device, FIFO or socket
// at p is refused (ErrInvalid), before and again just before the rename.
// What it creates is owned by own.
func putAt(ctx context.Context, root *os.File, p string, mode os.FileMode, r io.Reader, own owner) error {
	p, err := resolveFinal(root, p)
	if err != nil {
		return err
	}
	dir, base, err := splitPath(p)
	if err != nil {
		return err
	}
	if base == "" {
		return fmt.Errorf("cannot write to /: %w", ErrInvalid)
	}
	parent, err := mkdirAllAs(root, dir, own)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := checkReplaceable(parent, base, p); err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := ".tffs-put-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(int(parent.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return wrapErr(&os.PathError{Op: "create", Path: p, Err: err}, "put")
	}
	f := os.NewFile(uintptr(fd), p)
	_, err = io.Copy(f, ctxReader{ctx, r})
	if err == nil && own != hostRoot {
		err = f.Chown(own.uid, own.gid) // before Chmod: chown clears setuid
	}
	if err == nil {
		err = f.Chmod(mode & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = checkReplaceable(parent, base, p)
	}
	if err == nil {
		err = unix.Renameat(int(parent.Fd()), tmp, int(parent.Fd()), base)
	}
	if err != nil {
		_ = unix.Unlinkat(int(parent.Fd()), tmp, 0)
		return wrapErr(err, "put "+p)
	}
	return nil
}

// mkdirAllAs is pathrs.MkdirAllHandle (0755) whose new directories are
// owned by own. It returns an O_PATH handle of dir.
func mkdirAllAs(root *os.File, dir string, own owner) (*os.File, error) {
	if own == hostRoot {
		h, err := pathrs.MkdirAllHandle(root, dir, 0o755)
		return h, wrapErr(err, "create "+dir)
	}
	if h, err := pathrs.OpenatInRoot(root, dir); err == nil {
		return h, nil
	}
	h, err := pathrs.OpenatInRoot(root, "/")
	if err != nil {
		return nil, wrapErr(err, "open /")
	}
	cur := "/"
	for _, name := range strings.Split(strings.Trim(dir, "/"), "/") {
		cur = path.Join(cur, name)
		err := unix.Mkdirat(int(h.Fd()), name, 0o755)
		if err == nil {
			err = unix.Fchownat(int(h.Fd()), name, own.uid, own.gid, unix.AT_SYMLINK_NOFOLLOW)
		} else if err == unix.EEXIST {
			err = nil
		}
		var next *os.File
		if err == nil {
			next, err = pathrs.OpenatInRoot(root, cur)
		}
		h.Close()
		if err != nil {
			return nil, wrapErr(&os.PathError{Op: "mkdir", Path: cur, Err: err}, "create "+dir)
		}
		h = next
	}
	return h, nil
}

// removeAt removes name in dirfd; with recursive, directories with their
// contents. Symlinks are never followed.
func removeAt(dirfd int, name string, recursive bool) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err != unix.EISDIR {
		return err
	}
	if !recursive {
		return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAt(fd, n, true); err != nil && err != unix.ENOENT {
				break
			}
			err = nil
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

package runtime

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/tffs/tffs/internal/filekind"

	"golang.org/x/sys/unix"
)

// Ranged reads and writes. Each call resolves the path inside the
// container's root (symlinks followed there, as the container's kernel
// would), checks that it is a regular file of a real filesystem, opens it
// for this one call and reads or writes with pread/pwrite: nothing is
// staged, and when Write returns the bytes are in the container's file
// (in its page cache; on its disk too when asked to sync).

// ReadAt reads at most n bytes at off of the regular file p; fewer only
// at its end.
func (c *Container) ReadAt(ctx context.Context, p string, off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, pathErr("read", p, unix.EINVAL)
	}
	var out []byte
	err := c.withRegular(ctx, p, unix.O_RDONLY, func(f *os.File) error {
		buf := make([]byte, n)
		got := 0
		for got < n {
			k, err := f.ReadAt(buf[got:], off+int64(got))
			got += k
			if err == io.EOF {
				break
			}
			if err != nil {
				return pathErr("read", p, unwrapPath(err))
			}
		}
		out = buf[:got]
		return nil
	})
	return out, err
}

// WriteAt writes data at off of the regular file p (at its end with
// appendMode), fsyncs it with sync, and returns the bytes written and the
// file's size after.
func (c *Container) WriteAt(ctx context.Context, p string, off int64, data []byte, appendMode, sync bool) (int, int64, error) {
	if off < 0 {
		return 0, 0, pathErr("write", p, unix.EINVAL)
	}
	flags := unix.O_WRONLY
	if appendMode {
		flags |= unix.O_APPEND
	}
	var (
		n    int
		size int64
	)
	err := c.withRegular(ctx, p, flags, func(f *os.File) error {
		var err error
		if appendMode {
			n, err = f.Write(data)
		} else {
			n, err = unix.Pwrite(int(f.Fd()), data, off)
		}
		if err != nil {
			return pathErr("write", p, unwrapPath(err))
		}
		if sync {
			if err := unix.Fsync(int(f.Fd())); err != nil {
				return pathErr("fsync", p, err)
			}
		}
		size, err = sizeOf(f, p)
		return err
	})
	return n, size, err
}

// WriteFrom writes what r yields into the existing regular file p from
// offset off on, in order, and returns the bytes written and the file's
// size after them. It stops at r's end or first failure (a write that
// failed on the disk, r's error, ctx's end).
func (c *Container) WriteFrom(ctx context.Context, p string, off int64, r io.Reader) (int64, int64, error) {
	if off < 0 {
		return 0, 0, pathErr("write", p, unix.EINVAL)
	}
	var (
		n    int64
		size int64
	)
	err := c.withRegular(ctx, p, unix.O_WRONLY, func(f *os.File) error {
		buf := make([]byte, 512<<10)
		for {
			k, rerr := io.ReadFull(ctxReader{ctx, r}, buf)
			if k > 0 {
				w, err := unix.Pwrite(int(f.Fd()), buf[:k], off+n)
				if w > 0 {
					n += int64(w)
				}
				if err != nil {
					return pathErr("write", p, err)
				}
				if w < k {
					return pathErr("write", p, unix.EIO)
				}
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		var err error
		size, err = sizeOf(f, p)
		return err
	})
	return n, size, err
}

// sizeOf is the size of the open file f (at p).
func sizeOf(f *os.File, p string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, pathErr("fstat", p, err)
	}
	return st.Size, nil
}

// Sync fsyncs the regular file or directory p.
func (c *Container) Sync(ctx context.Context, p string) error {
	if _, _, err := splitPath(p); err != nil {
		return err
	}
	return c.withRoot(ctx, func(root *os.File) error {
		h, err := openIn(root, p)
		if err != nil {
			return err
		}
		defer h.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(h.Fd()), &st); err != nil {
			return pathErr("fstat", p, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			fd, err := unix.Openat(int(h.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return pathErr("open", p, err)
			}
			defer unix.Close(fd)
			return pathErr("fsync", p, unix.Fsync(fd))
		}
		f, err := reopenRegular(int(h.Fd()), &st, unix.O_RDONLY, p)
		if err != nil {
			return err
		}
		defer f.Close()
		return pathErr("fsync", p, unix.Fsync(int(f.Fd())))
	})
}

// withRegular opens the regular file p (symlinks followed inside the
// container's root) with flags for fn.
func (c *Container) withRegular(ctx context.Context, p string, flags int, fn func(*os.File) error) error {
	if _, _, err := splitPath(p); err != nil {
		return err
	}
	return c.withRoot(ctx, func(root *os.File) error {
		h, err := openIn(root, p)
		if err != nil {
			return err
		}
		defer h.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(h.Fd()), &st); err != nil {
			return pathErr("fstat", p, err)
		}
		f, err := reopenRegular(int(h.Fd()), &st, flags, p)
		if err != nil {
			return err
		}
		defer f.Close()
		return fn(f)
	})
}

// reopenRegular opens the regular file behind the O_PATH handle h (whose
// stat is st) with flags: a directory is EISDIR, anything else but a
// regular file EINVAL, a file of a kernel pseudo filesystem EPERM. The
// open never blocks and never follows a link; the opened file is checked
// to be the same inode.
func reopenRegular(h int, st *unix.Stat_t, flags int, p string) (*os.File, error) {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return nil, pathErr("open", p, unix.EISDIR)
	default:
		return nil, fmt.Errorf("open %s: %s is %s, only regular files are read or written: %w: %w", p, p, filekind.Of(fileMode(st.Mode)), ErrInvalid, unix.EINVAL)
	}
	if err := notPseudo(h, p); err != nil {
		return nil, err
	}
	fd, err := unix.Open(procFd(h), flags|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		unix.Close(fd)
		return nil, pathErr("fstat", p, err)
	}
	if got.Mode&unix.S_IFMT != unix.S_IFREG || got.Dev != st.Dev || got.Ino != st.Ino {
		unix.Close(fd)
		return nil, fmt.Errorf("open %s: the file changed while it was opened: %w", p, ErrBusy)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, pathErr("open", p, err)
	}
	return os.NewFile(uintptr(fd), p), nil
}

// unwrapPath returns the errno inside an *os.PathError.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

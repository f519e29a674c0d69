package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// FileInfo describes a file in a container.
type FileInfo struct {
	Name    string
	Size    int64
	Mode    os.FileMode
	ModTime time.Time
	Link    string // symlink target as stored ("" if not a symlink)
	// Resolved is, for a symlink, where Link leads inside the container: a
	// clean absolute container path with no symlink in it when it was
	// resolved (a missing tail is kept as text); "" when the chain loops.
	Resolved string
	// Extra is the rest of stat(2).
	Extra StatExtra
}

// Files are resolved inside the container's root: ".." and symlinks
// (absolute or relative) are interpreted as if the container's root were
// "/", so no path can reach the node's files. Paths must be absolute and
// contain no NUL (else ErrInvalid). Before start (or after exit) the
// snapshot is mounted for the operation; while running the container's own
// root (/proc/<pid>/root) is used. What is created is owned by the
// container's root (the first id of the node's uid range in a user
// namespace), so the container's root can change it.

// Put writes r to path (streaming), creating parent directories; the data
// goes to a temporary file that is renamed over path when complete. A
// symlink at path is followed (inside the container).
func (c *Container) Put(ctx context.Context, p string, mode os.FileMode, r io.Reader) error {
	if _, _, err := splitPath(p); err != nil {
		return err
	}
	return c.withRoot(ctx, func(root *os.File) error { return putAt(ctx, root, p, mode, r, c.owner) })
}

// Fetch opens path (following symlinks inside the container) for reading.
// Only a regular file is opened: a directory, device, FIFO or socket is
// refused with ErrInvalid (the reason in the message) before anything
// opens it, so a fetch can neither read the node's devices nor block on a
// FIFO. The caller must close the reader.
func (c *Container) Fetch(ctx context.Context, p string) (io.ReadCloser, FileInfo, error) {
	return c.FetchRange(ctx, p, 0, 0)
}

// FetchRange is Fetch that reads from byte off on, at most n bytes when n
// is above 0; the FileInfo describes the whole file. An offset past the
// end reads nothing.
func (c *Container) FetchRange(ctx context.Context, p string, off, n int64) (io.ReadCloser, FileInfo, error) {
	if off < 0 || n < 0 {
		return nil, FileInfo{}, fmt.Errorf("fetch %s: negative offset or length: %w", p, ErrInvalid)
	}
	if _, _, err := splitPath(p); err != nil {
		return nil, FileInfo{}, err
	}
	var (
		f  *os.File
		fi FileInfo
	)
	err := c.withRoot(ctx, func(root *os.File) error {
		h, err := openIn(root, p)
		if err != nil {
			return err
		}
		defer h.Close()
		if fi, err = statAt(h, "", p); err != nil {
			return err
		}
		if fi.Mode.IsDir() {
			return fmt.Errorf("fetch %s: %w: %w", p, ErrInvalid, unix.EISDIR)
		}
		if err := checkRegular("fetch", p, fi.Mode); err != nil {
			return err
		}
		f, err = openRegular(h, p)
		return err
	})
	if err != nil {
		return nil, FileInfo{}, err
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, FileInfo{}, fmt.Errorf("fetch %s: seek: %w", p, err)
		}
	}
	if n > 0 {
		return limitedFile{io.LimitReader(f, n), f}, fi, nil
	}
	return f, fi, nil
}

// limitedFile reads part of a file and closes the file.
type limitedFile struct {
	io.Reader
	io.Closer
}

// Stat returns information about path without following a final symlink.
func (c *Container) Stat(ctx context.Context, p string) (FileInfo, error) {
	dir, base, err := splitPath(p)
	if err != nil {
		return FileInfo{}, err
	}
	var fi FileInfo
	err = c.withRoot(ctx, func(root *os.File) error {
		if base == "" {
			fi, err = statAt(root, "", "/")
			return err
		}
		parent, err := openIn(root, dir)
		if err != nil {
			return err
		}
		defer parent.Close()
		if fi, err = statAt(parent, base, p); err == nil && fi.Mode&os.ModeSymlink != 0 {
			fi.Resolved = linkTarget(root, p)
		}
		return err
	})
	return c.mapIDs(fi), err
}

// List returns the entries of directory dir (following symlinks to it),
// sorted by name, each with Lstat information.
func (c *Container) List(ctx context.Context, dir string) ([]FileInfo, error) {
	if _, _, err := splitPath(dir); err != nil {
		return nil, err
	}
	var out []FileInfo
	err := c.withRoot(ctx, func(root *os.File) error {
		h, err := openIn(root, dir)
		if err != nil {
			return err
		}
		defer h.Close()
		d, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NONBLOCK)
		if err != nil {
			return wrapErr(err, "open directory "+dir)
		}
		defer d.Close()
		names, err := d.Readdirnames(-1)
		if err != nil {
			return wrapErr(err, "list "+dir)
		}
		sort.Strings(names)
		for _, n := range names {
			fi, err := statAt(d, n, path.Join(dir, n))
			if err != nil {
				continue // removed meanwhile
			}
			if fi.Mode&os.ModeSymlink != 0 {
				fi.Resolved = linkTarget(root, path.Join(dir, n))
			}
			out = append(out, c.mapIDs(fi))
		}
		return nil
	})
	return out, err
}

// Mkdir creates directory path with mode, creating missing parents (0755).
// An existing path is ErrExists.
func (c *Container) Mkdir(ctx context.Context, p string, mode os.FileMode) error {
	dir, base, err := splitPath(p)
	if err != nil {
		return err
	}
	if base == "" {
		return fmt.Errorf("mkdir /: %w", ErrExists)
	}
	return c.withRoot(ctx, func(root *os.File) error {
		parent, err := mkdirAllAs(root, dir, c.owner)
		if err != nil {
			return err
		}
		defer parent.Close()
		if err := unix.Mkdirat(int(parent.Fd()), base, 0o700); err != nil {
			return wrapErr(&os.PathError{Op: "mkdir", Path: p, Err: err}, "mkdir")
		}
		fd, err := unix.Openat(int(parent.Fd()), base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return wrapErr(&os.PathError{Op: "open", Path: p, Err: err}, "mkdir")
		}
		defer unix.Close(fd)
		if c.owner != hostRoot {
			if err := unix.Fchown(fd, c.owner.uid, c.owner.gid); err != nil {
				return wrapErr(err, "chown "+p)
			}
		}
		return wrapErr(unix.Fchmod(fd, uint32(mode.Perm())), "chmod "+p)
	})
}

// Remove removes path (a symlink itself, never its target). A non-empty
// directory needs recursive (else the error wraps ErrExists and ENOTEMPTY).
func (c *Container) Remove(ctx context.Context, p string, recursive bool) error {
	dir, base, err := splitPath(p)
	if err != nil {
		return err
	}
	if base == "" {
		return fmt.Errorf("cannot remove /: %w", ErrInvalid)
	}
	return c.withRoot(ctx, func(root *os.File) error {
		parent, err := openIn(root, dir)
		if err != nil {
			return err
		}
		defer parent.Close()
		if err := removeAt(int(parent.Fd()), base, recursive); err != nil {
			return wrapErr(&os.PathError{Op: "remove", Path: p, Err: err}, "remove")
		}
		return nil
	})
}

// Rename renames from to to (both inside the container; symlinks in the
// final components are not followed).
func (c *Container) Rename(ctx context.Context, from, to string) error {
	fdir, fbase, err := splitPath(from)
	if err != nil {
		return err
	}
	tdir, tbase, err := splitPath(to)
	if err != nil {
		return err
	}
	if fbase == "" || tbase == "" {
		return fmt.Errorf("cannot rename /: %w", ErrInvalid)
	}
	return c.withRoot(ctx, func(root *os.File) error {
		fp, err := openIn(root, fdir)
		if err != nil {
			return err
		}
		defer fp.Close()
		tp, err := openIn(root, tdir)
		if err != nil {
			return err
		}
		defer tp.Close()
		if err := unix.Renameat(int(fp.Fd()), fbase, int(tp.Fd()), tbase); err != nil {
			return wrapErr(&os.LinkError{Op: "rename", Old: from, New: to, Err: err}, "rename")
		}
		return nil
	})
}

package runtime

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Making files in a container for a client: regular files, directories,
// symlinks, hard links, FIFOs and sockets, as the container's own, by *at
// calls in a parent directory resolved inside the container's root.

// Kinds of file Make makes.
const (
	MakeFile    = "file"
	MakeSymlink = "symlink"
	MakeLink    = "link"
	MakeFIFO    = "fifo"
	MakeSocket  = "socket"
	MakeDir     = "dir"
)

// MakeSpec describes what Make makes.
type MakeSpec struct {
	Kind   string
	Mode   uint32 // permission bits, setuid/setgid/sticky included
	Target string // symlink: its target as stored; link: the container path linked to
	Excl   bool   // file: fail with EEXIST when it exists
	Trunc  bool   // file: truncate an existing file
}

// Make makes a regular file, directory, symlink, hard link, FIFO or socket at p,
// owned by the container's root, and returns its information. The parent
// must exist. A regular file that exists is opened (and truncated with
// Trunc) unless Excl; any other existing name is EEXIST. Devices are not
// made (EPERM, as in a container without CAP_MKNOD). The node opens none
// of what it makes but regular files.
func (c *Container) Make(ctx context.Context, p string, s MakeSpec) (FileInfo, error) {
	dir, base, err := splitPath(p)
	if err != nil {
		return FileInfo{}, err
	}
	if base == "" {
		return FileInfo{}, pathErr("create", p, unix.EEXIST)
	}
	var fi FileInfo
	err = c.withRoot(ctx, func(root *os.File) error {
		parent, err := openIn(root, dir)
		if err != nil {
			return err
		}
		defer parent.Close()
		if err := notPseudo(int(parent.Fd()), p); err != nil {
			return err
		}
		pfd := int(parent.Fd())
		switch s.Kind {
		case MakeFile:
			err = c.makeFile(pfd, base, p, s)
		case MakeDir:
			if err = unix.Mkdirat(pfd, base, 0o700); err == nil {
				if err = c.own(pfd, base, p); err == nil {
					err = chmodAt(pfd, base, s.Mode)
				}
			}
		case MakeSymlink:
			if err = unix.Symlinkat(s.Target, pfd, base); err == nil {
				err = c.own(pfd, base, p)
			}
		case MakeLink:
			err = c.makeLink(root, pfd, base, p, s.Target)
		case MakeFIFO, MakeSocket:
			t := uint32(unix.S_IFIFO)
			if s.Kind == MakeSocket {
				t = unix.S_IFSOCK
			}
			if err = unix.Mknodat(pfd, base, t|0o600, 0); err == nil {
				if err = c.own(pfd, base, p); err == nil {
					err = chmodAt(pfd, base, s.Mode)
				}
			}
		default:
			return fmt.Errorf("make %s: unknown kind %q: %w", p, s.Kind, ErrInvalid)
		}
		if err != nil {
			return pathErr(s.Kind, p, err)
		}
		fi, err = statAt(parent, base, p)
		if err == nil && fi.Mode&os.ModeSymlink != 0 {
			fi.Resolved = linkTarget(root, p)
		}
		return err
	})
	return c.mapIDs(fi), err
}

// own gives name in dirfd (not followed) to the container's root.
func (c *Container) own(dirfd int, name, p string) error {
	if c.owner == hostRoot {
		return nil
	}
	return unix.Fchownat(dirfd, name, c.owner.uid, c.owner.gid, unix.AT_SYMLINK_NOFOLLOW)
}

// chmodAt sets the mode of name in dirfd, which must not be a symlink,
// without opening it.
func chmodAt(dirfd int, name string, mode uint32) error {
	h, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(h)
	var st unix.Stat_t
	if err := unix.Fstat(h, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.EOPNOTSUPP
	}
	return unix.Chmod(procFd(h), mode&0o7777)
}

// makeFile creates (or with !Excl opens) the regular file name in pfd.
func (c *Container) makeFile(pfd int, name, p string, s MakeSpec) error {
	fd, err := unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o600)
	if err == nil {
		defer unix.Close(fd)
		if c.owner != hostRoot {
			if err := unix.Fchown(fd, c.owner.uid, c.owner.gid); err != nil {
				return err
			}
		}
		return unix.Fchmod(fd, s.Mode&0o7777)
	}
	if err != unix.EEXIST || s.Excl {
		return err
	}
	h, err := unix.Openat(pfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(h)
	var st unix.Stat_t
	if err := unix.Fstat(h, &st); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return unix.EISDIR
	default:
		return unix.EEXIST
	}
	if !s.Trunc {
		return nil
	}
	return truncateFd(h, &st, 0, p)
}

// makeLink hard-links the container path target (its final symlink not
// followed) as name in pfd.
func (c *Container) makeLink(root *os.File, pfd int, name, p, target string) error {
	tdir, tbase, err := splitPath(target)
	if err != nil {
		return err
	}
	if tbase == "" {
		return unix.EPERM
	}
	tp, err := openIn(root, tdir)
	if err != nil {
		return err
	}
	defer tp.Close()
	return unix.Linkat(int(tp.Fd()), tbase, pfd, name, 0)
}

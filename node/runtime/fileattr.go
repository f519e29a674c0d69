package runtime

import (
	"context"
	"fmt"
	"os"
	"path"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Stat fields beyond FileInfo's basic ones, and the calls that change a
// file's attributes or make links and special files. Every call resolves
// the parent directory inside the container's root (openIn) and acts on
// the final name with a *at call that never follows it, so nothing
// outside the root is reached; nothing is opened but regular files and
// directories (special.go), and nothing on a kernel pseudo filesystem is
// changed.

// StatExtra is the rest of stat(2), ids as the container sees them.
type StatExtra struct {
	Nlink      uint32
	Blocks     int64
	UID, GID   uint32
	Atime      time.Time
	Ctime      time.Time
	Ino, Rdev  uint64
	hostIDsSet bool
}

// fillExtra copies st's fields into fi (host ids; mapIDs maps them).
func fillExtra(fi *FileInfo, st *unix.Stat_t) {
	fi.Extra = StatExtra{
		Nlink: uint32(st.Nlink), Blocks: st.Blocks, UID: st.Uid, GID: st.Gid,
		Atime: time.Unix(st.Atim.Unix()), Ctime: time.Unix(st.Ctim.Unix()),
		Ino: st.Ino, Rdev: st.Rdev, hostIDsSet: true,
	}
}

// overflowID is what a user namespace shows for a host id it does not map.
const overflowID = 65534

// mapIDs turns the host ids of fi into the container's.
func (c *Container) mapIDs(fi FileInfo) FileInfo {
	if !fi.Extra.hostIDsSet || c.owner == hostRoot {
		fi.Extra.hostIDsSet = false
		return fi
	}
	base, size := uint32(c.owner.uid), c.r.hard.UIDSize
	conv := func(id uint32) uint32 {
		if id >= base && id-base < size {
			return id - base
		}
		return overflowID
	}
	fi.Extra.UID, fi.Extra.GID = conv(fi.Extra.UID), conv(fi.Extra.GID)
	fi.Extra.hostIDsSet = false
	return fi
}

// hostID maps a container id to the node's (EINVAL when unmapped, as
// chown in the container gives).
func (c *Container) hostID(id uint32) (int, error) {
	if c.owner == hostRoot {
		return int(id), nil
	}
	if id >= c.r.hard.UIDSize {
		return 0, fmt.Errorf("id %d is not mapped in the container: %w", id, unix.EINVAL)
	}
	return c.owner.uid + int(id), nil
}

// SetAttr is what Setattr changes; the Set* booleans say which fields.
type SetAttr struct {
	SetMode, SetUID, SetGID, SetSize, SetAtime, SetMtime bool
	Mode                                                 uint32 // low 12 bits of st_mode
	UID, GID                                             uint32 // container ids
	Size                                                 int64
	Atime, Mtime                                         time.Time
	AtimeNow, MtimeNow                                   bool
}

// Setattr changes the attributes of the file at p itself (a final symlink
// is not followed: lchown, lutimes; chmod of a symlink is EOPNOTSUPP) and
// returns its information after the change. The size is changed on
// regular files only (EISDIR, EINVAL otherwise).
func (c *Container) Setattr(ctx context.Context, p string, a SetAttr) (FileInfo, error) {
	dir, base, err := splitPath(p)
	if err != nil {
		return FileInfo{}, err
	}
	var fi FileInfo
	err = c.withRoot(ctx, func(root *os.File) error {
		parent, name, h, err := c.openFinal(root, dir, base, p)
		if err != nil {
			return err
		}
		defer parent.Close()
		defer unix.Close(h)
		var st unix.Stat_t
		if err := unix.Fstat(h, &st); err != nil {
			return pathErr("stat", p, err)
		}
		if err := notPseudo(h, p); err != nil {
			return err
		}
		isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
		if a.SetUID || a.SetGID {
			uid, gid := -1, -1
			if a.SetUID {
				if uid, err = c.hostID(a.UID); err != nil {
					return err
				}
			}
			if a.SetGID {
				if gid, err = c.hostID(a.GID); err != nil {
					return err
				}
			}
			if err := unix.Fchownat(h, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return pathErr("chown", p, err)
			}
		}
		if a.SetMode {
			if isLink {
				return pathErr("chmod", p, unix.EOPNOTSUPP)
			}
			if err := unix.Chmod(procFd(h), a.Mode&0o7777); err != nil {
				return pathErr("chmod", p, err)
			}
		}
		if a.SetSize {
			if err := truncateFd(h, &st, a.Size, p); err != nil {
				return err
			}
		}
		if a.SetAtime || a.SetMtime {
			ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
			set := func(i int, now bool, t time.Time) {
				if now {
					ts[i] = unix.Timespec{Nsec: unix.UTIME_NOW}
				} else {
					ts[i] = unix.NsecToTimespec(t.UnixNano())
				}
			}
			if a.SetAtime {
				set(0, a.AtimeNow, a.Atime)
			}
			if a.SetMtime {
				set(1, a.MtimeNow, a.Mtime)
			}
			if err := unix.UtimesNanoAt(int(parent.Fd()), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return pathErr("utimes", p, err)
			}
		}
		fi, err = statAt(parent, name, p)
		if err == nil && fi.Mode&os.ModeSymlink != 0 {
			fi.Resolved = linkTarget(root, p)
		}
		return err
	})
	return c.mapIDs(fi), err
}

// openFinal opens the parent of p inside root and an O_PATH|O_NOFOLLOW
// handle of p itself; name is p's final name in parent ("." for the
// root, whose parent is the root).
func (c *Container) openFinal(root *os.File, dir, base, p string) (parent *os.File, name string, h int, err error) {
	if base == "" {
		dir, base = "/", "."
	}
	parent, err = openIn(root, dir)
	if err != nil {
		return nil, "", -1, err
	}
	h, err = unix.Openat(int(parent.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		parent.Close()
		return nil, "", -1, pathErr("open", p, err)
	}
	return parent, base, h, nil
}

// truncateFd sets the size of the regular file behind the O_PATH handle h.
func truncateFd(h int, st *unix.Stat_t, size int64, p string) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return pathErr("truncate", p, unix.EISDIR)
	default:
		return pathErr("truncate", p, unix.EINVAL)
	}
	if size < 0 {
		return pathErr("truncate", p, unix.EINVAL)
	}
	f, err := reopenRegular(h, st, unix.O_WRONLY, p)
	if err != nil {
		return err
	}
	defer f.Close()
	return pathErr("truncate", p, unix.Ftruncate(int(f.Fd()), size))
}

// procFd names the inode behind fd for calls that take a path but do not
// open it (chmod): the kernel follows the magic link to the inode itself.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// pathErr wraps a call's errno as an os.PathError with the runtime's
// sentinel (nil stays nil).
func pathErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return wrapErr(&os.PathError{Op: op, Path: p, Err: err}, op)
}

// notPseudo refuses (EPERM) a change to a file of a kernel pseudo
// filesystem (see special.go): those files reach the node's kernel.
func notPseudo(fd int, p string) error {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return pathErr("statfs", p, err)
	}
	if name, ok := pseudoFS[int64(fs.Type)]; ok {
		return fmt.Errorf("%s is on the kernel's %s filesystem, which the node does not change for a client: %w", p, name, unix.EPERM)
	}
	return nil
}

// Statfs describes the filesystem holding p (the container's root
// filesystem for most paths).
func (c *Container) Statfs(ctx context.Context, p string) (unix.Statfs_t, error) {
	if _, _, err := splitPath(p); err != nil {
		return unix.Statfs_t{}, err
	}
	var fs unix.Statfs_t
	err := c.withRoot(ctx, func(root *os.File) error {
		h, err := openIn(root, p)
		if err != nil {
			return err
		}
		defer h.Close()
		return pathErr("statfs", p, unix.Fstatfs(int(h.Fd()), &fs))
	})
	return fs, err
}

// mkdirAt makes directory p (and its parents) in root, owned by own, with
// mode's permission, setuid, setgid and sticky bits; an existing
// directory gets the mode.
func mkdirAt(root *os.File, p string, mode os.FileMode, own owner) error {
	h, err := mkdirAllAs(root, path.Clean(p), own)
	if err != nil {
		return err
	}
	defer h.Close()
	bits := uint32(mode.Perm())
	if mode&os.ModeSetuid != 0 {
		bits |= unix.S_ISUID
	}
	if mode&os.ModeSetgid != 0 {
		bits |= unix.S_ISGID
	}
	if mode&os.ModeSticky != 0 {
		bits |= unix.S_ISVTX
	}
	return pathErr("chmod", p, unix.Chmod(procFd(int(h.Fd())), bits))
}

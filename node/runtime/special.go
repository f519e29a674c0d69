package runtime

import (
	"fmt"
	"github.com/tffs/tffs/internal/filekind"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// The node never opens a device, FIFO or socket of a container on a
// client's behalf: as root on the node, opening /dev/kmsg made by mknod
// in a container reads the node's kernel log, and opening a FIFO blocks.
// Only regular files are read or replaced; the others are still listed
// and stat'ed with their real type. Files of kernel pseudo filesystems
// (/proc, /sys, cgroup, debugfs… mounted in a running container) are
// regular files that reach the node's kernel — /proc/kmsg is the node's
// kernel log, and reading it blocks — so they are refused as well.

// checkRegular refuses (ErrInvalid, with the file's type) anything but a
// regular file.
func checkRegular(op, p string, m os.FileMode) error {
	if m.IsRegular() {
		return nil
	}
	return fmt.Errorf("%s %s: %s is %s, only regular files can be read or written: %w", op, p, p, filekind.Of(m), ErrInvalid)
}

// openRegular opens the regular file behind the O_PATH handle h for
// reading. The open never blocks (O_NONBLOCK) and never follows a link
// (the handle is the inode itself); the opened file is checked with fstat
// again (a regular file, the same inode as h) before it is returned, in
// blocking mode.
func openRegular(h *os.File, p string) (*os.File, error) {
	var want unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &want); err != nil {
		return nil, wrapErr(&os.PathError{Op: "fstat", Path: p, Err: err}, "fetch")
	}
	if err := checkRegular("fetch", p, fileMode(want.Mode)); err != nil {
		return nil, err
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(h.Fd()), &fs); err != nil {
		return nil, wrapErr(&os.PathError{Op: "fstatfs", Path: p, Err: err}, "fetch")
	}
	if name, ok := pseudoFS[int64(fs.Type)]; ok {
		return nil, fmt.Errorf("fetch %s: %s is a file of the kernel's %s filesystem, which the node does not read for a client: %w", p, p, name, ErrInvalid)
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC)
	if err != nil {
		return nil, wrapErr(err, "open "+p)
	}
	var got unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &got); err != nil {
		f.Close()
		return nil, wrapErr(&os.PathError{Op: "fstat", Path: p, Err: err}, "fetch")
	}
	if err := checkRegular("fetch", p, fileMode(got.Mode)); err != nil {
		f.Close()
		return nil, err
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		f.Close()
		return nil, fmt.Errorf("fetch %s: the file changed while it was opened: %w", p, ErrBusy)
	}
	if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, wrapErr(err, "open "+p)
	}
	return f, nil
}

// pseudoFS are the kernel filesystems whose files a fetch never opens.
var pseudoFS = map[int64]string{
	unix.PROC_SUPER_MAGIC:    "proc",
	unix.SYSFS_MAGIC:         "sysfs",
	unix.DEBUGFS_MAGIC:       "debugfs",
	unix.TRACEFS_MAGIC:       "tracefs",
	unix.SECURITYFS_MAGIC:    "securityfs",
	unix.CGROUP_SUPER_MAGIC:  "cgroup",
	unix.CGROUP2_SUPER_MAGIC: "cgroup2",
	unix.DEVPTS_SUPER_MAGIC:  "devpts",
	unix.BPF_FS_MAGIC:        "bpf",
	unix.PSTOREFS_MAGIC:      "pstore",
	unix.EFIVARFS_MAGIC:      "efivarfs",
	unix.SELINUX_MAGIC:       "selinuxfs",
	unix.SMACK_MAGIC:         "smackfs",
	unix.BINFMTFS_MAGIC:      "binfmt_misc",
	unix.NSFS_MAGIC:          "nsfs",
	unix.FUSE_SUPER_MAGIC:    "fuse",
	unix.HUGETLBFS_MAGIC:     "hugetlbfs",
	unix.AUTOFS_SUPER_MAGIC:  "autofs",
	0x62656570:               "configfs",
	0x19800202:               "mqueue",
}

// checkReplaceable refuses a put whose target name holds a device, FIFO or
// socket: a put replaces regular files only (a missing target is fine; a
// directory is refused by the rename itself).
func checkReplaceable(parent *os.File, base, p string) error {
	var st unix.Stat_t
	err := unix.Fstatat(int(parent.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return nil // missing (or unreadable: the rename reports it)
	}
	m := fileMode(st.Mode)
	if m.IsDir() || m.IsRegular() {
		return nil
	}
	return checkRegular("put", p, m)
}

package runtime

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrPermission: the operation was refused because it would break a
// containment rule (e.g. an exec'd process is not inside its container).
var ErrPermission = errors.New("permission denied")

// containedNS are the namespaces an exec'd process must share with its
// container's main process.
var containedNS = []string{"mnt", "pid", "net", "user", "ipc", "uts"}

// placement is where a process lives: its namespace identities (the
// targets of /proc/<pid>/ns/*) and its root directory.
type placement struct {
	ns   map[string]string
	root dirID
}

// dirID identifies a directory as seen through one mount: a bind mount of
// a directory has the same device and inode but another mount id.
type dirID struct{ mnt, dev, ino uint64 }

func (d dirID) String() string { return fmt.Sprintf("mount %d dev %d inode %d", d.mnt, d.dev, d.ino) }

// statDir identifies the directory at path.
func statDir(path string) (dirID, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_INO|unix.STATX_MNT_ID, &st); err != nil {
		return dirID{}, err
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return dirID{}, fmt.Errorf("statx %s: no mount id (kernel older than 5.8?)", path)
	}
	return dirID{mnt: st.Mnt_id, dev: unix.Mkdev(st.Dev_major, st.Dev_minor), ino: st.Ino}, nil
}

// readPlacement reads the placement of pid.
func readPlacement(pid int) (placement, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	p := placement{ns: map[string]string{}}
	for _, n := range containedNS {
		l, err := os.Readlink(dir + "/ns/" + n)
		if err != nil {
			return p, err
		}
		p.ns[n] = l
	}
	var err error
	p.root, err = statDir(dir + "/root")
	return p, err
}

// differs names the first way p is not placed like want, or "".
func (p placement) differs(want placement) string {
	for _, n := range containedNS {
		if p.ns[n] != want.ns[n] {
			return fmt.Sprintf("%s namespace %s, container's %s", n, p.ns[n], want.ns[n])
		}
	}
	if p.root != want.root {
		return fmt.Sprintf("root directory %v, container's %v", p.root, want.root)
	}
	return ""
}

// errGone: the process exited before it could be inspected.
var errGone = errors.New("process exited before it could be checked")

// checkContained verifies that process pid is in every namespace of the
// container whose main process is initPid, and has the same root
// directory. A pidfd held across the reads makes sure they describe pid
// and not a process that reused its number; errGone if pid has exited.
func checkContained(pid, initPid int) error {
	if testRefPid != nil {
		initPid = testRefPid(initPid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errGone
		}
		return fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	defer unix.Close(fd)
	want, err := readPlacement(initPid)
	if err != nil {
		return fmt.Errorf("container main process %d: %w", initPid, err)
	}
	got, err := readPlacement(pid)
	if err == nil && unix.PidfdSendSignal(fd, 0, nil, 0) != nil {
		err = errGone // the reads may describe another process
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) || errors.Is(err, errGone) {
			return errGone
		}
		return fmt.Errorf("process %d: %w", pid, err)
	}
	if d := got.differs(want); d != "" {
		return fmt.Errorf("process %d is not inside its container (%s): %w", pid, d, ErrPermission)
	}
	return nil
}

// testNoChecks, set by a test, turns the containment checks off, to show
// what they prevent.
var testNoChecks bool

// testRefPid, when set by a test, replaces the main process a check
// compares against, to make the check fail on purpose.
var testRefPid func(initPid int) int

// nsRoot identifies the directory a process lands on when it joins the
// mount namespace at nsPath with setns, as runc exec does: the root of that
// namespace. It joins on a throw-away OS thread that owns its own
// filesystem context (unshare CLONE_FS), which then exits.
func nsRoot(nsPath string) (dirID, error) {
	var id dirID
	err := onThrowawayThread(func() error {
		fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", nsPath, err)
		}
		defer unix.Close(fd)
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare CLONE_FS: %w", err)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("setns %s: %w", nsPath, err)
		}
		id, err = statDir("/")
		return err
	})
	return id, err
}

// onThrowawayThread runs fn on an OS thread of its own that exits after
// it, so that fn may change the thread's namespaces or root. Never on the
// main thread: Go keeps (wedges) instead of ending it, and it is the thread
// that /proc/self describes, so a namespace changed there would change
// what /proc/self/ns and /proc/self/mountinfo say for the whole process.
func onThrowawayThread(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread: stay locked on it (so the nested goroutine
			// cannot get it) and run fn on another thread.
			ch <- onThrowawayThread(fn)
			runtime.UnlockOSThread()
			return
		}
		// Never unlocked: the thread's state changes, so it exits with
		// this goroutine instead of going back to the scheduler.
		ch <- fn()
	}()
	return <-ch
}

// checkExecLands verifies that a process joining the mount namespace of
// the container's main process initPid lands on that process's root, as
// every runc exec does. It fails when the container runtime runs in a
// chroot: the namespace's root is then the host's, and an exec'd process
// would see the host's files and /proc.
func checkExecLands(initPid int) error {
	dir := "/proc/" + strconv.Itoa(initPid)
	land, err := nsRoot(dir + "/ns/mnt")
	if err != nil {
		return err
	}
	root, err := statDir(dir + "/root")
	if err != nil {
		return err
	}
	if land != root {
		return fmt.Errorf("a process joining the container's mount namespace lands on %v, not on the container's root %v (is containerd running in a chroot?): %w",
			land, root, ErrPermission)
	}
	return nil
}

// CheckMountRoot verifies that this process's root directory is the root
// of its mount namespace. In a chroot it is not, and processes exec'd in
// containers would land on the namespace's root, outside their container.
func CheckMountRoot() error {
	land, err := nsRoot("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("check the mount namespace's root: %w", err)
	}
	root, err := statDir("/")
	if err != nil {
		return err
	}
	if land != root {
		return fmt.Errorf("this process's root directory (%v) is not the root of its mount namespace (%v; a chroot?): "+
			"processes exec'd in containers would escape them. Run the node in a mount namespace of its own "+
			"whose root is this directory, e.g. unshare --mount --fork, bind-mount the directory onto itself, "+
			"then pivot_root into it instead of chroot: %w", root, land, ErrPermission)
	}
	return nil
}

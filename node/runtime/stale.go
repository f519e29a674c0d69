package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pidFile is where a daemon's pid is written.
func pidFile(dir string) string { return filepath.Join(dir, "containerd.pid") }

// lockDir takes dir/lock (flock, exclusive, not waiting): one daemon per
// dir. The lock ends with the returned file (or this process).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("containerd directory %s is in use by another running node: %w", dir, ErrBusy)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// staleDaemons returns the pids of containerd processes started with
// config cfg: the one in the pid file, if it is one, and any other found
// in /proc.
func staleDaemons(dir, cfg string) []int {
	var pids []int
	seen := map[int]bool{}
	if b, err := os.ReadFile(pidFile(dir)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 && isDaemonFor(pid, cfg) {
			pids = append(pids, pid)
			seen[pid] = true
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || seen[pid] || pid == os.Getpid() {
			continue
		}
		if isDaemonFor(pid, cfg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isDaemonFor reports whether pid is a containerd whose command line is
// `containerd --config cfg`, with the executable ContainerdBinary.
func isDaemonFor(pid int, cfg string) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
	if len(args) != 3 || filepath.Base(args[0]) != "containerd" || args[1] != "--config" || args[2] != cfg {
		return false
	}
	exe, err := os.Readlink(dir + "/exe")
	if err != nil {
		return false
	}
	want, err := filepath.EvalSymlinks(ContainerdBinary)
	if err != nil {
		want = ContainerdBinary
	}
	return strings.TrimSuffix(exe, " (deleted)") == want
}

// stopStale stops every containerd left running on dir's config by an
// earlier process (SIGTERM, SIGKILL after 10s) and waits until each is
// gone. The caller holds dir's lock, so none of them belongs to a live node.
func stopStale(dir, cfg string, log *slog.Logger) error {
	var errs []error
	for _, pid := range staleDaemons(dir, cfg) {
		log.Warn("stopping a containerd left running on this directory", "pid", pid, "dir", dir)
		if err := stopPid(pid, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop stale containerd %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// stopPid sends SIGTERM to pid, SIGKILL after grace, and waits until it
// has exited (through a pidfd, so a reused pid is never signalled).
func stopPid(pid int, grace time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	exited := func(d time.Duration) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, int(d.Milliseconds()))
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return n > 0
		}
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	if exited(grace) {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	if !exited(10 * time.Second) {
		return errors.New("still running 10s after SIGKILL")
	}
	return nil
}

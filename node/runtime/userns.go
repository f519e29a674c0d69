package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// usernsDir holds the bind mounts of the containers' user namespaces,
// named like their network namespaces in netnsDir.
const usernsDir = "/run/tffs-userns"

// A hardened container's network namespace is owned by a user namespace
// of its own (with the node's uid range) that the node makes before the
// container and runc joins by path, as it joins the network namespace.
// runc 1.1 joins a container's user namespace before its other namespaces
// when it execs a process, and a network namespace owned by the node's
// (initial) user namespace cannot be joined from inside a user namespace,
// so it must be owned by the container's (runc >= 1.2 joins in two
// passes). It also lets runc mount sysfs for the container.

// createUserNetns makes the named user namespace (ids mapped as h says)
// and a network namespace it owns, with loopback up: a short-lived
// child process (`sleep`) is started in both, they are bind-mounted to
// usernsDir/name and netnsDir/name, and the child is killed.
func createUserNetns(name string, h Hardening) (retErr error) {
	// The sleep child has Pdeathsig, which fires when the OS thread that
	// forked it exits — and Go does end threads (a goroutine that exits
	// locked to its thread, as the namespace probes in nscheck.go do). Hold
	// this thread until the namespaces are bound, so no one can end it
	// under the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	netPath, userPath := filepath.Join(netnsDir, name), filepath.Join(usernsDir, name)
	for _, d := range []string{netnsDir, usernsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, p := range []string{netPath, userPath} {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("netns %s: %w", name, ErrExists)
		}
		if err != nil {
			_ = deleteNetns(name)
			return fmt.Errorf("create netns %s: %w", name, err)
		}
		f.Close()
	}
	defer func() {
		if retErr != nil {
			_ = deleteNetns(name)
		}
	}()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return fmt.Errorf("user namespace %s: %w", name, err)
	}
	maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(h.UIDStart), Size: int(h.UIDSize)}}
	cmd := exec.Command(sleep, "2147483647")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNET,
		UidMappings: maps, GidMappings: maps,
		// The container's processes need setgroups (runc sets the
		// user's groups); "deny" could never be undone.
		GidMappingsEnableSetgroups: true,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("user namespace %s: %w", name, err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	for p, ns := range map[string]string{userPath: "user", netPath: "net"} {
		if err := unix.Mount(fmt.Sprintf("/proc/%d/ns/%s", pid, ns), p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s namespace of %s: %w", ns, name, err)
		}
	}
	nsh, err := netns.GetFromPath(netPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer nsh.Close()
	return loUp(nsh, name)
}

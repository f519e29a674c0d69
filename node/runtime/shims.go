package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// runcRoot is the default runc state root of containerd's runc shim.
const runcRoot = "/run/containerd/runc"

// killShims SIGKILLs every containerd shim whose -address is socket,
// together with all processes below it (the container processes it
// reaps), then removes runc's state of their containers. It returns how
// many shims it found.
func killShims(socket string) (int, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	children := map[int][]int{}
	var shims []int
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := parentPid(pid); pp > 0 {
			children[pp] = append(children[pp], pid)
		}
		if isShimFor(pid, socket) {
			shims = append(shims, pid)
		}
	}
	for _, s := range shims {
		var walk func(int)
		walk = func(p int) {
			for _, c := range children[p] {
				walk(c)
				_ = syscall.Kill(c, syscall.SIGKILL)
			}
		}
		walk(s)
		ns, id := shimArg(s, "-namespace"), shimArg(s, "-id")
		_ = syscall.Kill(s, syscall.SIGKILL)
		if ns != "" && id != "" {
			// Best effort: runc's state (and cgroup) outlives the shim.
			_ = exec.Command("runc", "--root", filepath.Join(runcRoot, ns), "delete", "--force", id).Run()
		}
	}
	return len(shims), nil
}

// shimArg returns the value of flag in the shim's command line.
func shimArg(pid int, flag string) string {
	args := cmdline(pid)
	for i, a := range args {
		if (a == flag || a == "-"+flag) && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// cmdline returns the arguments of pid.
func cmdline(pid int) []string {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(raw) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
}

// unmountBelow lazily unmounts every mount point below dir (deepest
// first), e.g. task rootfs mounts left by killed shims.
func unmountBelow(dir string) error {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var targets []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			targets = append(targets, unescapeMount(f[4]))
		}
	}
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	var errs []error
	for _, t := range targets {
		if err := syscall.Unmount(t, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			errs = append(errs, fmt.Errorf("unmount %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount decodes the octal escapes (\040 etc.) of mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isShimFor reports whether pid is a containerd shim talking to socket.
func isShimFor(pid int, socket string) bool {
	args := cmdline(pid)
	if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
		return false
	}
	for i, a := range args {
		if (a == "-address" || a == "--address") && i+1 < len(args) && args[i+1] == socket {
			return true
		}
	}
	return false
}

// parentPid reads the parent pid from /proc/<pid>/stat (0 if unknown).
func parentPid(pid int) int {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}

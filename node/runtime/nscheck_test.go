package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// An ordinary exec passes the containment check: it sees the container's
// root, its PID 1 and its network namespace.
func TestExecIsContained(t *testing.T) {
	r := env(t)
	c := create(t, r, Spec{ID: "contained", Asleep: true})
	if err := c.Start(tctx(t), nil, nil); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(int(c.Pid()))
	want := strings.Join(sleepArgs, "\x00") + "\x00" // the main process
	if code, out, _ := run(t, c, ExecSpec{Args: []string{"cat", "/proc/1/cmdline"}}); code != 0 || out != want {
		t.Fatalf("exec'd cat /proc/1/cmdline: %d %q, main process %q", code, out, want)
	}
	netns, err := os.Readlink("/proc/" + pid + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(t, c, ExecSpec{Args: []string{"busybox", "readlink", "/proc/self/ns/net"}}); code != 0 || strings.TrimSpace(out) != netns {
		t.Fatalf("exec'd readlink of its netns: %d %q, main process %q", code, out, netns)
	}
	// /etc/group is in the image; the host's has more than 2 lines.
	if code, out, _ := run(t, c, ExecSpec{Args: []string{"cat", "/etc/group"}}); code != 0 || out != "root:x:0:\nnogroup:x:65534:\n" {
		t.Fatalf("exec'd cat /etc/group: %d %q", code, out)
	}
	// A long-lived exec is checked while it runs (not only the fast ones).
	if code, out, _ := run(t, c, ExecSpec{Args: []string{"sh", "-c", "sleep 0.3; echo ok"}}); code != 0 || out != "ok\n" {
		t.Fatalf("exec'd sleep+echo: %d %q", code, out)
	}
	if err := checkExecLands(int(c.Pid())); err != nil {
		t.Fatal(err)
	}
}

// A process found outside its container's namespaces is killed, its
// output is never returned and Exec fails with ErrPermission.
func TestExecOutsideContainerRefused(t *testing.T) {
	r := env(t)
	c := create(t, r, Spec{ID: "escaped", Asleep: true})
	if err := c.Start(tctx(t), nil, nil); err != nil {
		t.Fatal(err)
	}
	testRefPid = func(int) int { return os.Getpid() } // the host's namespaces
	defer func() { testRefPid = nil }()
	var out, errb syncBuf
	_, err := c.Exec(tctx(t), ExecSpec{Args: []string{"sh", "-c", "echo leaked; echo leaked >&2; exec sleep 1000"}, Stdout: &out, Stderr: &errb})
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "not inside its container") {
		t.Fatalf("exec compared with the host's namespaces: %v", err)
	}
	if out.String() != "" || errb.String() != "" {
		t.Fatalf("output of a refused process returned: %q %q", out.String(), errb.String())
	}
	testRefPid = nil
	if code, ps, _ := run(t, c, ExecSpec{Args: []string{"busybox", "ps", "-o", "args"}}); code != 0 || strings.Contains(ps, "sleep 1000") {
		t.Fatalf("the refused process still runs: %d %q", code, ps)
	}
}

// In a chroot the process's root is not its mount namespace's root, and
// the node's start-up check says so; on the host it passes.
func TestCheckMountRoot(t *testing.T) {
	env(t)
	if err := CheckMountRoot(); err != nil {
		t.Fatalf("on the host: %v", err)
	}
	if os.Getenv("TFFS_IN_CHROOT") != "" {
		return
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A private mount namespace: the whole host tree bound at dir, then a
	// chroot into it, where the test binary checks again.
	cmd := exec.Command("unshare", "--mount", "--fork", "sh", "-c",
		`mount --rbind / "$1" && exec chroot "$1" "$2" -test.run '^TestCheckMountRootHelper$' -test.v`, "sh", dir, exe)
	cmd.Env = append(os.Environ(), "TFFS_IN_CHROOT=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a chroot:\n%s", out)
	if err != nil || !strings.Contains(string(out), "CHROOT-REFUSED") {
		t.Fatalf("in a chroot: %v\n%s", err, out)
	}
}

// TestCheckMountRootHelper runs inside TestCheckMountRoot's chroot.
func TestCheckMountRootHelper(t *testing.T) {
	if os.Getenv("TFFS_IN_CHROOT") == "" {
		t.Skip("only inside TestCheckMountRoot")
	}
	if err := CheckMountRoot(); !errors.Is(err, ErrPermission) {
		t.Fatalf("in a chroot the check passed or failed otherwise: %v", err)
	}
	d, err := StartContainerd(context.Background(), t.TempDir(), nil)
	if err == nil {
		d.Stop()
	}
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("containerd started in a chroot: %v", err)
	}
	t.Log("CHROOT-REFUSED:", err)

	// What the checks prevent: containerd and runc in this chroot run a
	// container whose main process is inside it, while a process exec'd
	// in it joins its mount namespace at that namespace's root: the
	// host's root, with the host's /proc.
	ctx := tctx(t)
	dir, err := os.MkdirTemp("/tmp", "chr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	testNoChecks = true
	d, err = StartContainerd(ctx, dir+"/d", nil)
	testNoChecks = false
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	r, err := New(ctx, Config{Socket: d.Socket(), Namespace: "tffs-chroot", StateDir: dir + "/state", Log: testLog})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := installBusybox(ctx, r); err != nil {
		t.Fatal(err)
	}
	c, err := r.Create(ctx, Spec{ID: "inchroot", Image: "busybox", Asleep: true, Relax: chrootRelax})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(ctx)
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := checkExecLands(int(c.Pid())); !errors.Is(err, ErrPermission) {
		t.Fatalf("exec landing check in a chroot: %v", err)
	}
	var out syncBuf
	p, err := c.Exec(ctx, ExecSpec{Args: []string{"sh", "-c", "exec sleep 1000"}})
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("exec in a chroot'ed runtime was not refused: %v", err)
	}
	testNoChecks = true
	defer func() { testNoChecks = false }()
	c2, err := r.Create(ctx, Spec{ID: "inchroot2", Image: "busybox", Asleep: true, Relax: chrootRelax})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Destroy(ctx)
	if err := c2.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	p, err = c2.Exec(ctx, ExecSpec{Args: []string{"cat", "/proc/1/cmdline"}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait(ctx)
	host, _ := os.ReadFile("/proc/1/cmdline")
	t.Logf("CHROOT-ESCAPE: unchecked exec's /proc/1/cmdline %q (container's main process: sleep; host's init %q)", out.String(), host)
	if out.String() == strings.Join(sleepArgs, "\x00")+"\x00" {
		t.Fatal("the exec landed inside the container: the chroot hypothesis is wrong")
	}
}

// chrootRelax runs the chroot test's containers in the host's user
// namespace: the kernel refuses a new user namespace to a chroot'ed
// process (EPERM), which would stop the containers before they show the
// escape the test is about.
var chrootRelax = Relax{HostUsers: true}

package integration

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/sdk"
)

// These tests run the tffs binary itself: `tffs mount MNT` and the mount of
// `tffs location up`. The FUSE server is always a child process, and the
// tree is only touched from child shells with a deadline, so a hung mount
// fails a test instead of hanging it.

// TestMountCommandEndsSession: a container made through `tffs mount` goes
// away when the mount ends, however it is ended from outside, and the
// command exits 0 with nothing left mounted.
func TestMountCommandEndsSession(t *testing.T) {
	requireFUSE(t)
	cases := []struct {
		name string
		end  func(t *testing.T, p *tffsProc, mnt string)
	}{
		{"FusermountU", func(t *testing.T, p *tffsProc, mnt string) { mustExec(t, 15*time.Second, "fusermount3", "-u", mnt) }},
		{"Umount", func(t *testing.T, p *tffsProc, mnt string) { mustExec(t, 15*time.Second, "umount", mnt) }},
		{"SIGTERM", func(t *testing.T, p *tffsProc, mnt string) { p.signal(t, syscall.SIGTERM) }},
		{"SIGINT", func(t *testing.T, p *tffsProc, mnt string) { p.signal(t, syscall.SIGINT) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.Start(t)
			sock, ns := env.Loc.ContainerdSocket(), env.Namespace()
			mnt, p := startMountCommand(t, env)
			if !strings.Contains(p.output(), "mounted at "+mnt) {
				t.Errorf("tffs mount did not say where it mounted: %q", p.output())
			}
			startSleeper(t, mnt, "c1")
			if st := testenv.Inspect(t, sock, ns); st.Containers != 1 || st.Tasks != 1 {
				t.Fatalf("while mounted: %+v, want 1 container with its task", st)
			}

			t0 := time.Now()
			tc.end(t, p, mnt)
			code := p.wait(t, 20*time.Second)
			exited := time.Since(t0)
			if code != 0 {
				t.Fatalf("tffs mount exited %d, want 0; output:\n%s", code, p.output())
			}
			if mounted(mnt) {
				t.Fatalf("%s still in /proc/mounts after tffs mount exited", mnt)
			}
			testenv.Eventually(t, 30*time.Second, "the session's container is removed", func() bool {
				return testenv.Inspect(t, sock, ns) == testenv.ContainerdState{}
			})
			t.Logf("tffs mount exited after %v; containerd empty after %v", exited.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		})
	}
}

// TestMountCommandKilledSessionIsCollected: a `tffs mount` killed with
// SIGKILL cannot say goodbye; its session is collected by the master's
// heartbeat timeout, and the dead mount can be lazily unmounted.
func TestMountCommandKilledSessionIsCollected(t *testing.T) {
	requireFUSE(t)
	// Above the SDK's default heartbeat (5s), which `tffs mount` uses.
	const timeout = 10 * time.Second
	env := testenv.Start(t, testenv.SessionTimeout(timeout))
	sock, ns := env.Loc.ContainerdSocket(), env.Namespace()
	mnt, p := startMountCommand(t, env)
	startSleeper(t, mnt, "c1")

	// Alive, the mount keeps its session past the timeout.
	time.Sleep(timeout + 2*time.Second)
	if out, err := shell(30*time.Second, `cat "$1/containers/c1/status"`, mnt); err != nil || strings.TrimSpace(out) != "running" {
		t.Fatalf("after one session timeout with the mount alive: status %q (%v)", out, err)
	}
	if st := testenv.Inspect(t, sock, ns); st.Containers != 1 || st.Tasks != 1 {
		t.Fatalf("after one session timeout with the mount alive: %+v", st)
	}

	p.signal(t, syscall.SIGKILL)
	if code := p.wait(t, 10*time.Second); code != -1 {
		t.Fatalf("tffs mount exited %d after SIGKILL", code)
	}
	killed := time.Now()
	testenv.Eventually(t, timeout+30*time.Second, "the killed mount's container is collected", func() bool {
		return testenv.Inspect(t, sock, ns) == testenv.ContainerdState{}
	})
	t.Logf("collected %v after SIGKILL (session timeout %v)", time.Since(killed).Round(time.Millisecond), timeout)
	if n := testenv.NetnsCount(ns + "+"); n != 0 {
		t.Fatalf("%d network namespaces left", n)
	}

	// Nobody serves the mount any more; a lazy unmount removes it.
	if mounted(mnt) {
		mustExec(t, 15*time.Second, "fusermount3", "-u", "-z", mnt)
		if mounted(mnt) {
			t.Fatalf("%s still mounted after fusermount3 -u -z", mnt)
		}
	}
}

// TestMountCommandLocationUp: `tffs location up --mount DIR` mounts its own
// embedded location at DIR, and a signal unmounts it and leaves nothing in
// its containerd namespace.
func TestMountCommandLocationUp(t *testing.T) {
	requireFUSE(t)
	// An outside containerd, so that what the location leaves in it can be
	// seen after `tffs location up` (which would stop a private one) exits.
	ctdDir, err := os.MkdirTemp("/tmp", "tffs-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ctdDir) })
	ctd, err := runtime.StartContainerd(testenv.Ctx(t, time.Minute), ctdDir, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctd.Stop() })

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(strings.ToUpper(sigName(sig)), func(t *testing.T) {
			locDir, err := os.MkdirTemp("/tmp", "tffs-lu-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(locDir) })
			name := "t" + filepath.Base(locDir)[len("tffs-"):] // a location of its own: namespace tffs-<name>
			ns := "tffs-" + name
			tffsDir := t.TempDir()
			mnt := filepath.Join(t.TempDir(), "location") // location up makes it
			lazyUnmountAtCleanup(t, mnt)

			t0 := time.Now()
			p := startTffs(t, tffsDir, "location", "up", "--dir", locDir, "--name", name,
				"--listen", "tcp://127.0.0.1:*", "--containerd", ctd.Socket(), "--mount", mnt)
			p.waitOutput(t, 2*time.Minute, "mounted at  "+mnt)
			t.Logf("location up and mounted after %v", time.Since(t0).Round(time.Millisecond))
			if !mounted(mnt) {
				t.Fatalf("location up says it mounted %s, but /proc/mounts does not list it", mnt)
			}
			mustShell(t, 30*time.Second, `
				grep -q 'nodes/any' "$1/README" || { echo "README: $(cat "$1/README")"; exit 1; }
				[ -d "$1/nodes/any" ] || { echo "no nodes/any: $(ls "$1/nodes")"; exit 1; }
				ls "$1/images" | grep -q '^busybox' || { echo "images/: $(ls "$1/images")"; exit 1; }
				echo OK`, mnt)
			startSleeper(t, mnt, "c1")
			if st := testenv.Inspect(t, ctd.Socket(), ns); st.Containers != 1 || st.Tasks != 1 {
				t.Fatalf("while up: %+v in %s, want 1 container with its task", st, ns)
			}
			// location up wrote the client config under TFFS_DIR: a CLI client finds it.
			if out := mustTffs(t, tffsDir, "image", "list"); !strings.HasPrefix(out, "busybox") {
				t.Fatalf("tffs image list against location up: %q", out)
			}

			t1 := time.Now()
			p.signal(t, sig)
			if code := p.wait(t, time.Minute); code != 0 {
				t.Fatalf("location up exited %d after %v, want 0; output:\n%s", code, sig, p.output())
			}
			t.Logf("location up exited %v after %v", time.Since(t1).Round(time.Millisecond), sig)
			if mounted(mnt) {
				t.Fatalf("%s still mounted after location up exited", mnt)
			}
			if st := testenv.Inspect(t, ctd.Socket(), ns); st != (testenv.ContainerdState{}) {
				t.Fatalf("left in containerd namespace %s: %+v", ns, st)
			}
			if n := testenv.NetnsCount(ns + "+"); n != 0 {
				t.Fatalf("%d network namespaces left", n)
			}
		})
	}
}

// TestMountCommandBadInput: a mount that cannot be made is a clear error,
// a non-zero exit and no mount.
func TestMountCommandBadInput(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing", "mnt")
	noLocation := t.TempDir() // a TFFS_DIR without any location config

	// A configured location whose master is not there: a port just freed.
	down := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := env.Loc.Config
	cfg.Master = "tcp://" + addr
	if err := sdk.WriteConfig(down, cfg); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		tffsDir string
		args    []string
		want    string // in the error message
		mnt     string // must not end up mounted
	}{
		{"NoArgument", env.ClientDir, []string{"mount"}, "usage: tffs mount", ""},
		{"TwoArguments", env.ClientDir, []string{"mount", tmp, tmp}, "usage: tffs mount", tmp},
		{"MissingDir", env.ClientDir, []string{"mount", missing}, "does not exist", missing},
		{"NotADirectory", env.ClientDir, []string{"mount", file}, "not a directory", file},
		{"NoLocation", noLocation, []string{"mount", tmp}, "no default location", tmp},
		{"UnknownLocation", env.ClientDir, []string{"mount", "--location", "nosuch", tmp}, `location "nosuch"`, tmp},
		{"LocationDown", down, []string{"mount", tmp}, "connect " + cfg.Master, tmp}, // after the 15s connect timeout
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mnt != "" {
				lazyUnmountAtCleanup(t, tc.mnt)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, testenv.Binary(t), tc.args...)
			cmd.Env = append(os.Environ(), "TFFS_DIR="+tc.tffsDir)
			cmd.WaitDelay = 5 * time.Second
			t0 := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(t0).Round(time.Millisecond)
			t.Logf("tffs %s (%v): %v\n%s", strings.Join(tc.args, " "), took, err, out)
			if ctx.Err() != nil {
				t.Fatalf("tffs %s did not give up within 40s", strings.Join(tc.args, " "))
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("tffs %s: %v, want a non-zero exit", strings.Join(tc.args, " "), err)
			}
			msg := string(out)
			if !strings.Contains(msg, "tffs: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not say %q", msg, tc.want)
			}
			if tc.mnt != "" && mounted(tc.mnt) {
				t.Fatalf("%s is mounted after a failed tffs mount", tc.mnt)
			}
			if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
				t.Fatalf("tffs mount created %s (%v)", filepath.Dir(missing), err)
			}
		})
	}
}

// tffsProc is a tffs command running in the background.
type tffsProc struct {
	args []string
	cmd  *exec.Cmd
	out  lockedBuffer // stdout and stderr
	done chan struct{}
}

// startTffs runs the tffs binary as a client of the location configured in
// tffsDir (TFFS_DIR). At cleanup it is killed if still running.
func startTffs(t *testing.T, tffsDir string, args ...string) *tffsProc {
	t.Helper()
	p := &tffsProc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(testenv.Binary(t), args...)
	p.cmd.Env = append(os.Environ(), "TFFS_DIR="+tffsDir)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("tffs %v did not die after SIGKILL", p.args)
			}
		}
		t.Logf("tffs %s output:\n%s", strings.Join(p.args, " "), p.output())
	})
	return p
}

func (p *tffsProc) output() string { return p.out.String() }

func (p *tffsProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *tffsProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code (-1 when a
// signal killed it).
func (p *tffsProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("tffs %v still running after %v; output:\n%s", p.args, d, p.output())
		return 0
	}
}

// waitOutput waits until the output contains s.
func (p *tffsProc) waitOutput(t *testing.T, d time.Duration, s string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.output(), s) {
		if p.exited() {
			t.Fatalf("tffs %v exited (%v) before printing %q; output:\n%s", p.args, p.cmd.ProcessState, s, p.output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("tffs %v did not print %q within %v; output:\n%s", p.args, s, d, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startMountCommand runs `tffs mount MNT` against env's location and
// returns once MNT is mounted. At cleanup the process is killed and a mount
// it left is lazily unmounted.
func startMountCommand(t *testing.T, env *testenv.Env) (string, *tffsProc) {
	t.Helper()
	mnt := t.TempDir()
	lazyUnmountAtCleanup(t, mnt) // registered before the process: runs after it is killed
	p := startTffs(t, env.ClientDir, "mount", mnt)
	deadline := time.Now().Add(30 * time.Second)
	for !mounted(mnt) || !strings.Contains(p.output(), "mounted at") {
		if p.exited() {
			t.Fatalf("tffs mount exited (%v) before mounting; output:\n%s", p.cmd.ProcessState, p.output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("tffs mount did not mount %s within 30s; output:\n%s", mnt, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return mnt, p
}

// startSleeper makes container NAME under MNT/nodes/any from a child shell
// and starts `sleep 1000` in it.
func startSleeper(t *testing.T, mnt, name string) {
	t.Helper()
	mustShell(t, time.Minute, `
		set -euo pipefail
		c="$1/nodes/any/$2"
		mkdir "$c"
		echo busybox > "$c/image"
		echo 'sleep 1000' > "$c/cmd"
		echo start > "$c/ctl"
		st=$(cat "$c/status")
		[ "$st" == running ] || { echo "status: $st; error: $(cat "$c/error")"; exit 1; }
		[ "$(cat "$1/containers/$2/status")" == running ] || { echo "not under containers/"; exit 1; }
		echo OK`, mnt, name)
}

// shell runs a bash script with args $1… in a child process, bounded by d.
func shell(d time.Duration, script string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-c", script, "bash"}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return string(out), err
}

func mustShell(t *testing.T, d time.Duration, script string, args ...string) {
	t.Helper()
	out, err := shell(d, script, args...)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Fatalf("script failed (%v):\n%s\nscript:%s", err, out, script)
	}
}

// mustExec runs a command, bounded by d.
func mustExec(t *testing.T, d time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// mustTffs runs a short tffs client command and returns its stdout.
func mustTffs(t *testing.T, tffsDir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	cmd.Env = append(os.Environ(), "TFFS_DIR="+tffsDir)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tffs %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// mounted reports whether dir is a mount point in /proc/mounts.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == dir {
			return true
		}
	}
	return false
}

// lazyUnmountAtCleanup detaches a mount left at dir when the test ends (a
// failed test, or a killed server whose mount stays behind).
func lazyUnmountAtCleanup(t *testing.T, dir string) {
	t.Cleanup(func() {
		if !mounted(dir) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "fusermount3", "-u", "-z", dir)
		cmd.WaitDelay = 2 * time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("fusermount3 -u -z %s: %v %s", dir, err, out)
		}
		if mounted(dir) {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("could not unmount %s: %v", dir, err)
			}
		}
	})
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "sigint"
	case syscall.SIGTERM:
		return "sigterm"
	}
	return s.String()
}

// lockedBuffer is a bytes.Buffer safe for a process's writes and the
// test's reads at the same time.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

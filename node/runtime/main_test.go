package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testNS is the containerd namespace of the shared test runtime.
const testNS = "tffs-test"

var (
	testDaemon  *Daemon
	testRT      *Runtime
	testDir     string
	skipReason  string
	testLog     = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	testTimeout = 2 * time.Minute
)

// prerequisites returns why the real-containerd tests cannot run, or "".
func prerequisites() string {
	if os.Geteuid() != 0 {
		return "needs root"
	}
	for _, p := range []string{ContainerdBinary, "/bin/busybox"} {
		if _, err := os.Stat(p); err != nil {
			return "missing " + p
		}
	}
	for _, b := range []string{"runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(b); err != nil {
			return "missing " + b
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	StopGrace = 500 * time.Millisecond
	if os.Getenv("TFFS_IN_CHROOT") != "" {
		return m.Run() // only TestCheckMountRootHelper runs there
	}
	if skipReason = prerequisites(); skipReason != "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	if testDir, err = os.MkdirTemp("/tmp", "ctd"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(testDir)
	if testDaemon, err = StartContainerd(ctx, filepath.Join(testDir, "d"), testLog); err != nil {
		fmt.Fprintln(os.Stderr, "start containerd:", err)
		return 1
	}
	code := func() int {
		defer testDaemon.Stop()
		testRT, err = New(ctx, Config{Socket: testDaemon.Socket(), Namespace: testNS, StateDir: filepath.Join(testDir, "state"), Log: testLog})
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtime:", err)
			return 1
		}
		defer testRT.Close()
		if err := installBusybox(ctx, testRT); err != nil {
			fmt.Fprintln(os.Stderr, "image:", err)
			return 1
		}
		code := m.Run()
		if n, err := testRT.CleanupOrphans(ctx); err != nil || n > 0 {
			fmt.Fprintf(os.Stderr, "final cleanup removed %d leftover containers (err %v)\n", n, err)
			code = 1
		}
		return code
	}()
	if left := leftovers(testDaemon.Socket()); left != "" {
		fmt.Fprintln(os.Stderr, "LEFTOVERS after tests:", left)
		code = 1
	}
	return code
}

// leftovers reports shims of our daemon and netns of our tests still present.
func leftovers(socket string) string {
	var out []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		var pid int
		if _, err := fmt.Sscan(p.Name(), &pid); err == nil && isShimFor(pid, socket) {
			out = append(out, fmt.Sprintf("shim pid %d", pid))
		}
	}
	for _, prefix := range []string{"tffs-test+", "tffs-orph+", "tffs-stop+"} {
		ns, _ := listNetns(prefix)
		for _, n := range ns {
			out = append(out, "netns "+n)
		}
	}
	return strings.Join(out, ", ")
}

// env returns the shared runtime, or skips (fails in CI) when the
// prerequisites are missing.
func env(t *testing.T) *Runtime {
	t.Helper()
	if skipReason != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("prerequisite missing in CI:", skipReason)
		}
		t.Skip(skipReason)
	}
	return testRT
}

// tctx returns a context that ends with the test (or after testTimeout).
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// create creates a container and destroys it at the end of the test.
func create(t *testing.T, r *Runtime, spec Spec) *Container {
	t.Helper()
	if spec.Image == "" {
		spec.Image = "busybox"
	}
	c, err := r.Create(tctx(t), spec)
	if err != nil {
		t.Fatalf("create %s: %v", spec.ID, err)
	}
	t.Cleanup(func() {
		if err := c.Destroy(context.Background()); err != nil {
			t.Errorf("destroy %s: %v", spec.ID, err)
		}
	})
	return c
}

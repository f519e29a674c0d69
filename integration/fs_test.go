package integration

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// requireFUSE skips (or fails under CI=true) without /dev/fuse and fusermount3.
func requireFUSE(t *testing.T) {
	t.Helper()
	testenv.Require(t)
	var missing []string
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing = append(missing, "/dev/fuse")
	}
	for _, bin := range []string{"fusermount3", "python3", "bash", "timeout"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("FUSE test prerequisites missing: %v", missing)
	}
	t.Skipf("FUSE test prerequisites missing: %v", missing)
}

// runScript drives the mount from a child process (never from the test's
// own goroutines, which could deadlock against the server in this process).
func runScript(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	interp := "bash"
	if strings.HasSuffix(name, ".py") {
		interp = "python3"
	}
	cmd := exec.CommandContext(ctx, interp, append([]string{filepath.Join("testdata", name)}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("%s output:\n%s", name, out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "OK") {
		t.Fatalf("%s did not end with OK", name)
	}
	return string(out)
}

func TestFS(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := t.TempDir()
	var log *slog.Logger = testenv.Logger(t)
	m, err := tffsfs.Mount(context.Background(), loc, mnt, log)
	if err != nil {
		t.Fatal(err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			m.Unmount()
		}
	})

	t.Run("ShellSession", func(t *testing.T) { runScript(t, 2*time.Minute, "shell_session.sh", mnt) })
	t.Run("Python", func(t *testing.T) { runScript(t, 2*time.Minute, "session.py", mnt) })
	t.Run("BadInput", func(t *testing.T) { runScript(t, 2*time.Minute, "bad_input.sh", mnt) })
	t.Run("Parallel", func(t *testing.T) { runScript(t, 3*time.Minute, "parallel.sh", mnt, "20") })
	t.Run("Tools", func(t *testing.T) { runScript(t, 2*time.Minute, "tools.sh", mnt) })
	t.Run("Streams", func(t *testing.T) { runScript(t, 2*time.Minute, "streams.sh", mnt) })

	t.Run("Images", func(t *testing.T) {
		tar := filepath.Join(t.TempDir(), "img.tar")
		if err := ociarchive.BuildBusybox("/bin/busybox", tar, "imported:v1"); err != nil {
			t.Fatal(err)
		}
		runScript(t, 2*time.Minute, "images.sh", mnt, tar)
	})

	t.Run("UnmountEndsSession", func(t *testing.T) {
		runScript(t, time.Minute, "leave_running.sh", mnt)
		if n := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers; n == 0 {
			t.Fatalf("expected running containers before unmount")
		}
		if err := m.Unmount(); err != nil {
			t.Fatal(err)
		}
		unmounted = true
		select {
		case <-m.Done():
		default:
			t.Fatal("Done not closed after Unmount")
		}
		testenv.Eventually(t, 60*time.Second, "containers gone after unmount", func() bool {
			return testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers == 0
		})
		mounts, _ := os.ReadFile("/proc/mounts")
		if strings.Contains(string(mounts), mnt) {
			t.Fatalf("mount still listed:\n%s", mounts)
		}
	})
}

// mountAt mounts loc in-process at a new temporary directory, unmounted at
// cleanup, and returns the directory.
func mountAt(t *testing.T, loc *sdk.Location) string {
	t.Helper()
	requireFUSE(t)
	mnt := t.TempDir()
	m, err := tffsfs.Mount(context.Background(), loc, mnt, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmount() })
	return mnt
}

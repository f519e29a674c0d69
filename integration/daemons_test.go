package integration

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/sdk"
)

// These tests kill or close one part of a running location (its node's
// containerd, its master, the mount of `tffs location up`) and check that
// the rest notices, says why, and stops cleanly.

// startOwnLocation is testenv.Start without its cleanup's demand that Stop
// succeed: these tests break a part on purpose and check Stop's error.
func startOwnLocation(t *testing.T) (*location.Location, string) {
	t.Helper()
	testenv.Require(t)
	dir, err := os.MkdirTemp("/tmp", "tffs-")
	if err != nil {
		t.Fatal(err)
	}
	return startLocationIn(t, dir)
}

// startLocationIn starts a location in dir (made by the caller, removed at
// cleanup after Stop).
func startLocationIn(t *testing.T, dir string) (*location.Location, string) {
	t.Helper()
	name := "t" + filepath.Base(dir)[len("tffs-"):]
	l, err := location.Up(testenv.Ctx(t, 2*time.Minute), location.Config{Dir: dir, ClientDir: filepath.Join(dir, "client"),
		Name: name, Listen: "tcp://127.0.0.1:*", Log: testenv.Logger(t)})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("location up: %v", err)
	}
	t.Cleanup(func() {
		l.Stop()
		os.RemoveAll(dir)
	})
	return l, dir
}

// processesUnder lists the pids whose command line mentions dir (the
// private containerd and its shims name their config, socket or state
// below it).
func processesUnder(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// containerdOf is the pid of the private containerd whose config is in
// ctdDir; the test fails without one.
func containerdOf(t *testing.T, ctdDir string) int {
	t.Helper()
	cfg := filepath.Join(ctdDir, "config.toml")
	for _, pid := range processesUnder(cfg) {
		if b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm")); strings.TrimSpace(string(b)) == "containerd" {
			return pid
		}
	}
	t.Fatalf("no containerd running with %s", cfg)
	return 0
}

// waitDone waits for ch, failing the test when ctx ends first.
func waitDone(t *testing.T, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s: %v", what, ctx.Err())
	}
}

// TestContainerdKilledUnderNode: SIGKILL of the node's private containerd
// under a running container. The node notices (the daemon process exits),
// stops with an error naming containerd and how it died, the session is
// told its container is gone, and no shim or container process is left.
func TestContainerdKilledUnderNode(t *testing.T) {
	l, dir := startOwnLocation(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	loc, err := sdk.Connect(ctx, sdk.WithDir(l.ClientDir), sdk.WithLocation(l.Config.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Close()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	ctdDir := filepath.Join(dir, "node", "containerd")
	if err := syscall.Kill(containerdOf(t, ctdDir), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	waitDone(t, ctx, l.Done(), "the location did not notice its containerd died")
	err = l.Err()
	if err == nil || !strings.Contains(err.Error(), "containerd exited") || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("location down with %v, want it to say containerd exited (killed)", err)
	}
	t.Logf("location down: %v", err)
	waitDone(t, ctx, ctr.Gone(), "the session was not told its container is gone")
	if _, err := ctr.Wait(ctx); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("Wait after containerd died = %v, want ErrUnavailable", err)
	}
	if left := processesUnder(ctdDir); len(left) > 0 {
		t.Fatalf("processes of the dead containerd left running: %v", left)
	}
	if err := l.Stop(); err == nil || !strings.Contains(err.Error(), "containerd exited") {
		t.Fatalf("Stop = %v, want the cause (containerd exited)", err)
	}
}

// TestLocationNoticesMasterClosed: a master closed under a running
// location makes the location go down with a clear reason; Stop then
// stops the node cleanly and says the same.
func TestLocationNoticesMasterClosed(t *testing.T) {
	l, _ := startOwnLocation(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	if err := l.Master.Close(); err != nil {
		t.Fatalf("master Close: %v", err)
	}
	waitDone(t, ctx, l.Done(), "the location did not notice its master stopped")
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), "master stopped") {
		t.Fatalf("location down with %v, want master stopped", err)
	}
	if err := l.Stop(); err == nil || !strings.Contains(err.Error(), "master stopped") {
		t.Fatalf("Stop = %v, want master stopped", err)
	}
	select {
	case <-l.Node.Done():
		if err := l.Node.Err(); err != nil {
			t.Fatalf("node stopped with %v, want a clean stop", err)
		}
	default:
		t.Fatal("Stop returned before the node stopped")
	}
}

// TestLocationUpExitsWhenAPartDies: `tffs location up` exits 1 with the
// reason when its containerd is killed, and when its mount is unmounted
// from outside.
func TestLocationUpExitsWhenAPartDies(t *testing.T) {
	cases := []struct {
		name  string
		mount bool
		kill  func(t *testing.T, locDir, mnt string)
		want  string
	}{
		{"ContainerdKilled", false, func(t *testing.T, locDir, mnt string) {
			if err := syscall.Kill(containerdOf(t, filepath.Join(locDir, "node", "containerd")), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}, "containerd exited"},
		{"Unmounted", true, func(t *testing.T, locDir, mnt string) {
			mustExec(t, 15*time.Second, "fusermount3", "-u", mnt)
		}, "the mount at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mount {
				requireFUSE(t)
			} else {
				testenv.Require(t)
			}
			locDir, err := os.MkdirTemp("/tmp", "tffs-lu-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(locDir) })
			name := "t" + filepath.Base(locDir)[len("tffs-"):]
			mnt := filepath.Join(t.TempDir(), "location")
			args := []string{"location", "up", "--dir", locDir, "--name", name, "--listen", "tcp://127.0.0.1:*"}
			if tc.mount {
				lazyUnmountAtCleanup(t, mnt)
				args = append(args, "--mount", mnt)
			} else {
				args = append(args, "--no-mount")
			}
			p := startTffs(t, t.TempDir(), args...)
			p.waitOutput(t, 2*time.Minute, "is up.")
			if tc.mount {
				p.waitOutput(t, time.Minute, "mounted at  "+mnt)
			}
			tc.kill(t, locDir, mnt)
			if code := p.wait(t, 2*time.Minute); code != 1 {
				t.Fatalf("location up exited %d, want 1; output:\n%s", code, p.output())
			}
			if !strings.Contains(p.output(), tc.want) {
				t.Fatalf("location up did not say %q; output:\n%s", tc.want, p.output())
			}
			if left := processesUnder(filepath.Join(locDir, "node", "containerd")); len(left) > 0 {
				t.Fatalf("processes left running: %v", left)
			}
			if mounted(mnt) {
				t.Fatalf("%s still mounted", mnt)
			}
		})
	}
}

// TestLocationNoticesNodeClosed: a node closed under a running location
// makes it go down saying so; Close is idempotent and Stop still works.
func TestLocationNoticesNodeClosed(t *testing.T) {
	l, _ := startOwnLocation(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	if err := l.Node.Close(); err != nil {
		t.Fatalf("node Close: %v", err)
	}
	if err := l.Node.Close(); err != nil {
		t.Fatalf("second node Close: %v", err)
	}
	waitDone(t, ctx, l.Done(), "the location did not notice its node stopped")
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), "node stopped") {
		t.Fatalf("location down with %v, want node stopped", err)
	}
	if err := l.Stop(); err == nil || !strings.Contains(err.Error(), "node stopped") {
		t.Fatalf("Stop = %v, want node stopped", err)
	}
}

// logWatch is a slog handler that passes each record's message to msgs
// (dropping it when nobody reads).
type logWatch struct{ msgs chan string }

func (w logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w logWatch) Handle(_ context.Context, r slog.Record) error {
	select {
	case w.msgs <- r.Message:
	default:
	}
	return nil
}
func (w logWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w logWatch) WithGroup(string) slog.Handler      { return w }

// waitLog waits for a log message containing s.
func waitLog(t *testing.T, ctx context.Context, msgs <-chan string, s string) {
	t.Helper()
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, s) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no log saying %q: %v", s, ctx.Err())
		}
	}
}

// TestOutsideContainerdKilledUnderNode: a containerd the node does not own
// is SIGKILLed. The node notices (it probes it) and says so, keeps
// serving, and once the containerd is restarted it says so and spawns
// and runs again.
func TestOutsideContainerdKilledUnderNode(t *testing.T) {
	testenv.Require(t)
	ctdDir, err := os.MkdirTemp("/tmp", "tffs-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ctdDir) })
	ctx := testenv.Ctx(t, 3*time.Minute)
	first, err := runtime.StartContainerd(ctx, ctdDir, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "tffs-")
	if err != nil {
		t.Fatal(err)
	}
	watch := logWatch{msgs: make(chan string, 256)}
	name := "t" + filepath.Base(dir)[len("tffs-"):]
	l, err := location.Up(ctx, location.Config{Dir: dir, ClientDir: filepath.Join(dir, "client"), Name: name,
		Listen: "tcp://127.0.0.1:*", Containerd: filepath.Join(ctdDir, "ctd.sock"), Log: slog.New(watch),
		NodeConfig: func(c *node.Config) { c.StatsInterval = 200 * time.Millisecond }})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("location up: %v", err)
	}
	var restarted *runtime.Daemon
	t.Cleanup(func() {
		if err := l.Stop(); err != nil {
			t.Errorf("location stop: %v", err)
		}
		if restarted != nil {
			restarted.Stop()
		}
		os.RemoveAll(dir)
	})
	loc, err := sdk.Connect(ctx, sdk.WithDir(l.ClientDir), sdk.WithLocation(l.Config.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Close()
	if _, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000")); err != nil {
		t.Fatal(err)
	}

	if err := syscall.Kill(containerdOf(t, ctdDir), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitLog(t, ctx, watch.msgs, "containerd does not answer")
	// Without containerd a spawn cannot succeed (it fails, or waits for
	// containerd until its context ends).
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = loc.Node().SpawnContainer(sctx, "busybox", sdk.Command("true"))
	cancel()
	if err == nil {
		t.Fatal("spawn without containerd succeeded")
	}
	t.Logf("spawn without containerd: %v", err)
	select {
	case <-l.Done():
		t.Fatalf("location went down: %v", l.Err())
	default:
	}

	// What a supervisor does: clean up after the dead daemon (its shims
	// and their containers, its mounts, its lock), then start it again.
	first.Stop()
	if restarted, err = runtime.StartContainerd(ctx, ctdDir, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	waitLog(t, ctx, watch.msgs, "containerd answers again")
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatalf("spawn after containerd is back: %v", err)
	}
	if out, code, err := ctr.Run(ctx, "echo", "back"); err != nil || code != 0 || string(out) != "back\n" {
		t.Fatalf("run after containerd is back: %q %d %v", out, code, err)
	}
}

// TestMasterCommandAdminSocketError: `tffs master` whose admin socket
// cannot be made (its path is past the unix socket limit) exits 1 saying
// so, instead of serving without it.
func TestMasterCommandAdminSocketError(t *testing.T) {
	testenv.Require(t)
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 110))
	p := startTffs(t, t.TempDir(), "master", "--dir", dir, "--listen", "tcp://127.0.0.1:*")
	if code := p.wait(t, time.Minute); code != 1 {
		t.Fatalf("tffs master exited %d, want 1; output:\n%s", code, p.output())
	}
	if !strings.Contains(p.output(), "admin socket") {
		t.Fatalf("tffs master did not name the admin socket; output:\n%s", p.output())
	}
}

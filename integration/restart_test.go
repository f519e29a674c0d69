package integration

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// startTime is the start time (clock ticks since boot, /proc/1/stat field
// 22) of a container's main process: unchanged means it never restarted.
const startTimeCmd = `cut -d " " -f 22 /proc/1/stat`

// A master killed with SIGKILL and started again on the same directory
// takes up its sessions: an SDK client and a mount get their containers
// (and tags) back within the session timeout, the containers ran on
// throughout, and a session whose client never comes back is collected.
func TestMasterKilledSessionsSurvive(t *testing.T) {
	requireFUSE(t)
	const timeout = 20 * time.Second // above the mount's heartbeat (5s)
	r := startRestartRig(t, timeout)
	ctx := testenv.Ctx(t, 4*time.Minute)
	loc := r.connect(sdk.WithHeartbeat(300 * time.Millisecond))
	if _, err := loc.ImportImages(ctx, rigBusybox(t, r), nil); err != nil {
		t.Fatal(err)
	}
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Tag("web"),
		sdk.Command("sh", "-c", "echo hi > /greeting; exec sleep 1000"))
	if err != nil {
		t.Fatal(err)
	}
	sdkStart := runOut(t, ctr, "sh", "-c", startTimeCmd)

	mnt := t.TempDir()
	lazyUnmountAtCleanup(t, mnt)
	mount := startTffs(t, r.clientDir, "mount", mnt)
	mount.waitOutput(t, 30*time.Second, "mounted at")
	mustShell(t, time.Minute, `
		set -euo pipefail
		c="$1/nodes/any/c1"
		mkdir "$c"
		echo busybox > "$c/image"
		echo 'sleep 1000' > "$c/cmd"
		echo mt > "$c/tag"
		echo start > "$c/ctl"
		[ "$(cat "$c/status")" == running ] || { echo "status: $(cat "$c/status"); $(cat "$c/error")"; exit 1; }
		echo OK`, mnt)
	mountStart := mountRun(t, mnt, startTimeCmd)

	// A client that dies without a goodbye before the master does.
	gone := exec.Command(testenv.Binary(t), "run", "busybox", "sh", "-c", "echo started; sleep 1000")
	gone.Env = append(os.Environ(), "TFFS_DIR="+r.clientDir)
	stdout, _ := gone.StdoutPipe()
	if err := gone.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("tffs run printed %q (%v)", line, err)
	}
	gone.Process.Kill()
	gone.Wait()
	if n := r.containers(); n != 3 {
		t.Fatalf("%d containers before the master is killed, want 3", n)
	}

	r.killMaster()
	restarted := time.Now()
	r.startMaster()

	testenv.Eventually(t, timeout, "the SDK session runs in its container again", func() bool {
		out, code, err := ctr.Run(testenv.Ctx(t, 5*time.Second), "sh", "-c", startTimeCmd)
		return err == nil && code == 0 && string(out) == sdkStart
	})
	t.Logf("SDK session back %v after the restart", time.Since(restarted).Round(time.Millisecond))
	if b, err := ctr.Fetch(ctx, "/greeting"); err != nil || string(b) != "hi\n" {
		t.Fatalf("fetch after the restart: %q %v", b, err)
	}
	list, err := loc.ListContainers(ctx)
	if err != nil || len(list) != 1 || list[0].Tag != "web" || list[0].State != "running" {
		t.Fatalf("the SDK session's containers after the restart: %+v %v", list, err)
	}
	for _, tag := range []string{"web", "mt"} {
		if _, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Tag(tag), sdk.Asleep()); !errors.Is(err, sdk.ErrExists) {
			t.Fatalf("a second container tagged %s after the restart: %v, want ErrExists", tag, err)
		}
	}

	testenv.Eventually(t, timeout, "the mount's container is running again", func() bool {
		out, err := shell(10*time.Second, `cat "$1/containers/c1/status"`, mnt)
		return err == nil && strings.TrimSpace(out) == "running"
	})
	if got := mountRun(t, mnt, startTimeCmd); got != mountStart {
		t.Fatalf("the mount's container restarted: main process start %q, then %q", mountStart, got)
	}
	mustShell(t, 30*time.Second, `
		set -euo pipefail
		c="$1/containers/c1"
		[ "$(cat "$c/tag")" == mt ] || { echo "tag: $(cat "$c/tag")"; exit 1; }
		echo written > "$c/files/tmp/x"
		[ "$(cat "$c/files/tmp/x")" == written ] || exit 1
		ls "$1/images" | grep -q '^busybox' || { echo "images: $(ls "$1/images")"; exit 1; }
		echo OK`, mnt)

	testenv.Eventually(t, timeout+30*time.Second, "the dead client's container is collected", func() bool {
		return r.containers() == 2
	})
	t.Logf("dead client's container collected %v after the restart (timeout %v)", time.Since(restarted).Round(time.Millisecond), timeout)
	if got := runOut(t, ctr, "sh", "-c", startTimeCmd); got != sdkStart {
		t.Fatalf("the SDK container restarted: %q, then %q", sdkStart, got)
	}
}

// A node away (stopped) while a restarted master collects a session that
// never came back is told, when it returns with the same boot, to remove
// that session's container; the containers of live sessions stay.
func TestNodeAwayWhileMasterForgets(t *testing.T) {
	const timeout = 4 * time.Second
	r := startRestartRig(t, timeout)
	ctx := testenv.Ctx(t, 3*time.Minute)
	loc := r.connect(sdk.WithHeartbeat(300 * time.Millisecond))
	if _, err := loc.ImportImages(ctx, rigBusybox(t, r), nil); err != nil {
		t.Fatal(err)
	}
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	start := runOut(t, ctr, "sh", "-c", startTimeCmd)
	// One that exits while the node or the master is away.
	short, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sh", "-c", "sleep 3; exit 7"))
	if err != nil {
		t.Fatal(err)
	}
	gone := exec.Command(testenv.Binary(t), "run", "busybox", "sh", "-c", "echo started; sleep 1000")
	gone.Env = append(os.Environ(), "TFFS_DIR="+r.clientDir)
	stdout, _ := gone.StdoutPipe()
	if err := gone.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("tffs run printed %q (%v)", line, err)
	}
	gone.Process.Kill()
	gone.Wait()

	r.node.signal(t, syscall.SIGSTOP)
	r.killMaster()
	r.startMaster()
	r.master.waitOutput(t, timeout+30*time.Second, "session timed out")
	if n := r.containers(); n != 3 {
		t.Fatalf("%d containers while the node is away, want 3", n)
	}
	r.node.signal(t, syscall.SIGCONT)
	testenv.Eventually(t, 30*time.Second, "the forgotten container is removed by the node", func() bool {
		return r.containers() == 2
	})
	testenv.Eventually(t, 30*time.Second, "the live session's container answers", func() bool {
		out, code, err := ctr.Run(testenv.Ctx(t, 5*time.Second), "sh", "-c", startTimeCmd)
		return err == nil && code == 0 && string(out) == start
	})
	select {
	case <-ctr.Gone():
		t.Fatal("the live session's container was reported gone")
	default:
	}
	if code, err := short.Wait(ctx); err != nil || code != 7 {
		t.Fatalf("the exit while away: %d %v, want 7", code, err)
	}
}

func rigBusybox(t *testing.T, r *restartRig) string {
	p := filepath.Join(r.dir, "busybox.tar")
	if out, err := exec.Command(testenv.Binary(t), "image", "busybox", p).CombinedOutput(); err != nil {
		t.Fatalf("tffs image busybox: %v %s", err, out)
	}
	return p
}

func runOut(t *testing.T, c *sdk.Container, args ...string) string {
	t.Helper()
	out, code, err := c.Run(testenv.Ctx(t, 30*time.Second), args...)
	if err != nil || code != 0 {
		t.Fatalf("run %v: %d %v %s", args, code, err, out)
	}
	return string(out)
}

// mountRun runs a command in the mount's container c1 through ctl and
// returns its stdout.
func mountRun(t *testing.T, mnt, cmd string) string {
	t.Helper()
	out, err := shell(30*time.Second, `
		set -euo pipefail
		c="$1/containers/c1"
		echo "run $2" > "$c/ctl"
		cat "$c/procs/last/wait" > /dev/null
		cat "$c/procs/last/stdout"`, mnt, cmd)
	if err != nil {
		t.Fatalf("run %q on the mount: %v %s", cmd, err, out)
	}
	return out
}

// A mount cut off (stopped) past the session timeout finds, when it runs
// again, that the master collected its session: it says hello again under
// the same name, shows its container destroyed, and works on.
func TestMountCutOffPastTimeoutSaysHelloAgain(t *testing.T) {
	requireFUSE(t)
	const timeout = 8 * time.Second // above the mount's heartbeat (5s)
	env := testenv.Start(t, testenv.SessionTimeout(timeout))
	sock, ns := env.Loc.ContainerdSocket(), env.Namespace()
	mnt, p := startMountCommand(t, env)
	startSleeper(t, mnt, "c1")
	p.signal(t, syscall.SIGSTOP)
	testenv.Eventually(t, timeout+30*time.Second, "the cut-off session's container is collected", func() bool {
		return testenv.Inspect(t, sock, ns).Containers == 0
	})
	p.signal(t, syscall.SIGCONT)
	testenv.Eventually(t, 30*time.Second, "the mount shows its container destroyed", func() bool {
		out, err := shell(10*time.Second, `cat "$1/containers/c1/status"`, mnt)
		return err == nil && strings.TrimSpace(out) == "destroyed"
	})
	startSleeper(t, mnt, "c2")
}

package integration

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// A client killed without a clean close loses its containers once the
// master's session timeout passes, and nothing of them stays in containerd.
func TestKilledClientIsGarbageCollected(t *testing.T) {
	env := testenv.Start(t, testenv.SessionTimeout(3*time.Second))
	bin := testenv.Binary(t)
	cmd := exec.Command(bin, "run", "busybox", "sh", "-c", "echo started; sleep 1000")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "started\n" {
		t.Fatalf("tffs run printed %q (%v)", line, err)
	}
	sock := env.Loc.ContainerdSocket()
	if st := testenv.Inspect(t, sock, env.Namespace()); st.Containers != 1 || st.Tasks != 1 {
		t.Fatalf("while the client runs: %+v", st)
	}
	cmd.Process.Kill() // no goodbye
	cmd.Wait()
	testenv.Eventually(t, 30*time.Second, "the killed client's container is collected", func() bool {
		return testenv.Inspect(t, sock, env.Namespace()) == (testenv.ContainerdState{})
	})
	if n := testenv.NetnsCount(env.Namespace() + "+"); n != 0 {
		t.Fatalf("%d network namespaces left", n)
	}
}

// A healthy session that keeps its heartbeat survives a short timeout.
func TestHeartbeatKeepsSessionAlive(t *testing.T) {
	env := testenv.Start(t, testenv.SessionTimeout(2*time.Second))
	loc := env.Connect(t, sdk.WithHeartbeat(300*time.Millisecond))
	ctx := testenv.Ctx(t, 30*time.Second)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	if _, code, err := ctr.Run(ctx, "true"); err != nil || code != 0 {
		t.Fatalf("after 2 timeouts of heartbeats: %d %v", code, err)
	}
}

// A node daemon killed with SIGKILL and started again removes the orphans
// it left in containerd, and the owning sessions are told their containers
// ended: an SDK client (Gone, OnContainerGone) and a mount (status).
func TestNodeRestartLeavesNoOrphans(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t, testenv.NoNode())
	bin := testenv.Binary(t)
	ctdDir, _ := os.MkdirTemp("/tmp", "tffs-ctd-")
	defer os.RemoveAll(ctdDir)
	ctx := testenv.Ctx(t, 2*time.Minute)
	ctd, err := runtime.StartContainerd(ctx, ctdDir, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ctd.Stop()
	nodeDir := filepath.Join(env.Dir, "n2")
	key, err := exec.Command(bin, "node", "--dir", nodeDir, "--print-key").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Loc.Master.AddNode("n2", strings.TrimSpace(string(key))); err != nil {
		t.Fatal(err)
	}
	startNode := func() *exec.Cmd {
		cmd := exec.Command(bin, "node", "--name", "n2", "--dir", nodeDir, "--master", env.Loc.Config.Master,
			"--master-key", env.Loc.Config.MasterKey, "--containerd", ctd.Socket())
		cmd.Stderr = os.Stderr
		if os.Getenv("TFFS_DEBUG") == "" {
			cmd.Stderr = nil
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	node := startNode()
	defer func() { node.Process.Kill(); node.Wait() }()
	goneReasons := make(chan string, 1)
	loc := env.Connect(t, sdk.OnContainerGone(func(_ *sdk.Container, reason string) { goneReasons <- reason }))
	testenv.Eventually(t, 30*time.Second, "node n2 in the offer", func() bool {
		o, _ := loc.RefreshOffer(ctx)
		return len(o.Nodes) == 1
	})
	if _, err := loc.ImportImages(ctx, busyboxTar(t, env), nil); err != nil {
		t.Fatal(err)
	}
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	mnt, _ := startMountCommand(t, env)
	startSleeper(t, mnt, "c1")
	if st := testenv.Inspect(t, ctd.Socket(), "tffs-n2"); st.Containers != 2 {
		t.Fatalf("before the kill: %+v", st)
	}
	node.Process.Signal(syscall.SIGKILL)
	node.Wait()
	node = startNode()
	select {
	case <-ctr.Gone():
	case <-time.After(30 * time.Second):
		t.Fatal("the session was not told its container ended")
	}
	if _, err := ctr.Wait(ctx); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("wait on a lost container: %v", err)
	}
	select {
	case reason := <-goneReasons:
		t.Logf("OnContainerGone: %s", reason)
	case <-time.After(30 * time.Second):
		t.Fatal("OnContainerGone was not called")
	}
	testenv.Eventually(t, 30*time.Second, "the mount shows its container destroyed", func() bool {
		out, err := shell(10*time.Second, `cat "$1/containers/c1/status"`, mnt)
		return err == nil && strings.TrimSpace(out) == "destroyed"
	})
	testenv.Eventually(t, 30*time.Second, "no orphans in containerd", func() bool {
		return testenv.Inspect(t, ctd.Socket(), "tffs-n2").Containers == 0
	})
	node.Process.Signal(syscall.SIGTERM)
	node.Wait()
	if st := testenv.Inspect(t, ctd.Socket(), "tffs-n2"); st.Containers+st.Tasks+st.Snapshots != 0 {
		t.Fatalf("after a clean node stop: %+v", st)
	}
}

func busyboxTar(t *testing.T, env *testenv.Env) string {
	p := filepath.Join(env.Dir, "busybox-test.tar")
	if err := exec.Command(testenv.Binary(t), "image", "busybox", p).Run(); err != nil {
		t.Fatal(err)
	}
	return p
}

var _ = context.Background
var _ = protocol.ErrInvalid

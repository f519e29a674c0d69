package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node/runtime"
)

// A node killed with SIGKILL takes its private containerd with it, and a
// node that starts stops a containerd left running on its directory
// before it starts its own.
func TestNodeKillStopsItsContainerd(t *testing.T) {
	env := testenv.Start(t, testenv.NoNode())
	bin := testenv.Binary(t)
	nodeDir, err := os.MkdirTemp("/tmp", "tn") // short: the containerd socket lives below
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(nodeDir)
	key, err := exec.Command(bin, "node", "--dir", nodeDir, "--print-key").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Loc.Master.AddNode("n3", strings.TrimSpace(string(key))); err != nil {
		t.Fatal(err)
	}
	ctdDir := filepath.Join(nodeDir, "containerd")
	var nodeLog lockedBuffer
	startNode := func() *exec.Cmd {
		cmd := exec.Command(bin, "node", "--name", "n3", "--dir", nodeDir, "--master", env.Loc.Config.Master,
			"--master-key", env.Loc.Config.MasterKey)
		cmd.Stderr = &nodeLog
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// daemonPid waits until the node's containerd serves and returns its pid.
	daemonPid := func() int {
		var pid int
		testenv.Eventually(t, time.Minute, "the node's containerd is up", func() bool {
			b, err := os.ReadFile(filepath.Join(ctdDir, "containerd.pid"))
			if err != nil {
				return false
			}
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			_, err = os.Stat(filepath.Join(ctdDir, "ctd.sock"))
			return pid > 0 && err == nil && alive(pid)
		})
		return pid
	}
	node := startNode()
	defer func() {
		node.Process.Signal(syscall.SIGTERM)
		node.Wait()
		if t.Failed() {
			t.Logf("node log:\n%s", nodeLog.String())
		}
	}()
	pid := daemonPid()
	node.Process.Signal(syscall.SIGKILL)
	node.Wait()
	testenv.Eventually(t, 30*time.Second, "the killed node's containerd is gone", func() bool { return !alive(pid) })

	// A containerd left on the node's directory, as if by a node that
	// could not take it along.
	stale := exec.Command(runtime.ContainerdBinary, "--config", filepath.Join(ctdDir, "config.toml"))
	stale.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := stale.Start(); err != nil {
		t.Fatal(err)
	}
	staleDone := make(chan struct{})
	go func() { stale.Wait(); close(staleDone) }()
	defer func() { stale.Process.Kill(); <-staleDone }()
	os.Remove(filepath.Join(ctdDir, "containerd.pid")) // found without the pid file too
	testenv.Eventually(t, time.Minute, "the stale containerd serves", func() bool {
		_, err := os.Stat(filepath.Join(ctdDir, "ctd.sock"))
		return err == nil
	})
	node = startNode()
	select {
	case <-staleDone:
	case <-time.After(time.Minute):
		t.Fatal("the stale containerd was not stopped by the next node")
	}
	if p := daemonPid(); p == stale.Process.Pid {
		t.Fatal("the node kept the stale containerd")
	}
	if !strings.Contains(nodeLog.String(), "left running") {
		t.Errorf("the node did not log the stale containerd:\n%s", nodeLog.String())
	}
	// A second node on the same directory is refused while the first runs.
	out, err := exec.Command(bin, "node", "--name", "n3", "--dir", nodeDir, "--master", env.Loc.Config.Master,
		"--master-key", env.Loc.Config.MasterKey).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another running node") {
		t.Fatalf("a second node on the same directory: %v\n%s", err, out)
	}
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

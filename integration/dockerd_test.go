package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/dockerimg"
	"github.com/tffs/tffs/internal/testenv"
)

// needTools skips the test when a tool of the apt package pkg is missing,
// or fails it under CI=true (where `make deps` installs it).
func needTools(t *testing.T, pkg string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (package %s)", tool, pkg)
			}
			t.Skipf("%s missing (package %s)", tool, pkg)
		}
	}
}

// dockerEngine is a private dockerd for one test: its data root, exec root
// and socket under one short /tmp directory, no bridge and no iptables. It
// starts its own containerd under the exec root, unless a system containerd
// listens on /run/containerd/containerd.sock (dockerd then uses that one, in
// its "moby" namespace; the tests run no Docker containers).
type dockerEngine struct {
	dir, socket string
}

// startDockerEngine starts a private dockerd and stops it at cleanup,
// removing its directories. A dockerd that cannot start on this machine
// (no cgroups, no overlay…) skips the test with the engine's own error.
func startDockerEngine(t *testing.T) *dockerEngine {
	t.Helper()
	needTools(t, "docker.io", "dockerd", "docker")
	dir, err := os.MkdirTemp("/tmp", "dk-") // unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	e := &dockerEngine{dir: dir, socket: filepath.Join(dir, "d.sock")}
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o644) // not the machine's /etc/docker/daemon.json
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dockerd", "--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "x"),
		"-H", "unix://"+e.socket, "--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		t.Fatalf("start dockerd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() { e.stop(t, cmd, exited) })

	eng := dockerimg.New(e.socket)
	deadline := time.Now().Add(2 * time.Minute)
	for !eng.Available(context.Background()) {
		select {
		case <-exited:
			t.Skipf("dockerd cannot run here: %s", e.logTail(10))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd did not answer on %s in 2 minutes: %s", e.socket, e.logTail(10))
		}
	}
	return e
}

// stop ends dockerd (SIGTERM, then SIGKILL to its process group), checks
// that it left no mounts behind, and removes its directories.
func (e *dockerEngine) stop(t *testing.T, cmd *exec.Cmd, exited chan struct{}) {
	select {
	case <-exited: // it could not start
	default:
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Errorf("dockerd did not stop on SIGTERM in 60 s: %s", e.logTail(10))
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	if left := mountsUnder(e.dir); len(left) > 0 {
		// dockerd's own bind mount of its data root: some roots (the
		// debootstrap root of make fresh) keep it after dockerd stops.
		// It is the baseline engine's, not tffs's: cleaned, and logged.
		t.Logf("dockerd left mounts behind (unmounted): %v", left)
		for i := len(left) - 1; i >= 0; i-- {
			syscall.Unmount(left[i], syscall.MNT_DETACH)
		}
	}
	if err := os.RemoveAll(e.dir); err != nil {
		t.Errorf("remove the engine's directory: %v", err)
	}
}

// logTail is the last n lines of dockerd's log, on one line.
func (e *dockerEngine) logTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// docker runs the docker client against the engine and returns its
// output; it fails the test when the client fails.
func (e *dockerEngine) docker(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(testenv.Ctx(t, 2*time.Minute), "docker", append([]string{"-H", "unix://" + e.socket}, args...)...)
	// The client's own config stays in the engine's directory; the classic
	// builder needs no buildx plugin.
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(e.dir, "client"), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// mountsUnder lists the mount points at or under dir, in mount order.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append(out, fields[4])
		}
	}
	return out
}

// layerCount is the number of layers the location's master stores.
func layerCount(t *testing.T, env *testenv.Env) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(env.Dir, "master", "layers", "sha256"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(ents)
}

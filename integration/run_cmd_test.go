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
)

// tffsRun runs the tffs binary against env's location and returns its
// stdout, stderr and exit code.
func tffsRun(t *testing.T, env *testenv.Env, extraEnv []string, args ...string) (string, string, int) {
	t.Helper()
	return tffsRunIn(t, env.ClientDir, extraEnv, args...)
}

// tffsRunDir runs tffs as the client whose directory is dir.
func tffsRunDir(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return tffsRunIn(t, dir, nil, args...)
}

func tffsRunIn(t *testing.T, dir string, extraEnv []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(testenv.Ctx(t, 60*time.Second), testenv.Binary(t), args...)
	cmd.Env = append(append(os.Environ(), "TFFS_DIR="+dir), extraEnv...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("tffs %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestRunCommandFlags: -e (with a value and copied from the local
// environment), -f (to a path and to a directory), -z with a command, and
// the exit code of the container's command coming back as tffs's.
func TestRunCommandFlags(t *testing.T) {
	env := testenv.Start(t)
	local := filepath.Join(t.TempDir(), "greeting.txt")
	if err := os.WriteFile(local, []byte("hello from the client\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	script := `echo "A=$A B=$B"; cat /etc/motd /opt/greeting.txt; stat -c %a /opt/greeting.txt; exit 7`
	for _, asleep := range []bool{false, true} {
		args := []string{"run", "-e", "A=one", "-e", "B", "-e", "UNSET_HERE", "-f", local + ":/etc/motd", "-f", local + ":/opt/"}
		if asleep {
			args = append(args, "-z")
		}
		args = append(args, "busybox", "sh", "-c", script)
		stdout, stderr, code := tffsRun(t, env, []string{"B=two"}, args...)
		want := "A=one B=two\nhello from the client\nhello from the client\n640\n"
		if stdout != want || code != 7 {
			t.Fatalf("asleep=%v: stdout %q code %d (stderr %q), want %q code 7", asleep, stdout, code, stderr, want)
		}
	}
	// Bad input: one clear line and exit 1.
	for _, args := range [][]string{
		{"run", "-f", "/nonexistent:/x", "busybox", "true"},
		{"run", "-f", local + ":relative", "busybox", "true"},
		{"run", "--memory", "lots", "busybox", "true"},
		{"run", "nosuchimage:v1", "true"},
	} {
		_, stderr, code := tffsRun(t, env, nil, args...)
		if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "tffs: ") {
			t.Fatalf("tffs %v: code %d stderr %q, want exit 1 and one line", args, code, stderr)
		}
	}
}

// TestRunCommandSIGTERM: SIGTERM ends `tffs run` cleanly and destroys its
// container.
func TestRunCommandSIGTERM(t *testing.T) {
	env := testenv.Start(t)
	cmd := exec.Command(testenv.Binary(t), "run", "busybox", "sh", "-c", "echo started; sleep 1000")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	cmd.WaitDelay = 5 * time.Second
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("tffs run printed %q (%v)", line, err)
	}
	sock := env.Loc.ContainerdSocket()
	if st := testenv.Inspect(t, sock, env.Namespace()); st.Tasks != 1 {
		t.Fatalf("containerd state while running: %+v, want 1 task", st)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("tffs run did not end after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit code after SIGTERM %d, want 130", code)
	}
	testenv.Eventually(t, 30*time.Second, "the container destroyed", func() bool {
		return testenv.Inspect(t, sock, env.Namespace()).Containers == 0
	})
}

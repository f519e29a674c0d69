package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/testenv"
)

// mountRounds is how many random interruptions each file operation gets.
const mountRounds = 4

// mountSh runs a shell script against the mount in a child process (never
// from the test's goroutines, which could deadlock against the server).
func mountSh(t *testing.T, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mustSh is mountSh that fails the test on error.
func mustSh(t *testing.T, script string) string {
	t.Helper()
	out, err := mountSh(t, script)
	if err != nil {
		t.Fatalf("%s: %v: %s", script, err, out)
	}
	return out
}

// interruptAfter starts a command on the mount, sends it SIGTERM after d
// and waits for it: a process in a file operation must die promptly (the
// bound is a hang bound, not a timing claim).
func interruptAfter(t *testing.T, d time.Duration, args ...string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		t.Logf("%v interrupted after %v: %v", args, d, err)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%v did not end after SIGTERM", args)
	}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestCancelOnMountAtRandomPoints interrupts start, cp into files/ and
// cat of files/ with SIGTERM at random points: the container is running
// or still new, files/ holds the old or the new content whole, and the
// name can be reused after rmdir.
func TestCancelOnMountAtRandomPoints(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := t.TempDir()
	m, err := tffsfs.Mount(context.Background(), loc, mnt, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			m.Unmount()
		}
	})
	cut := newRandomCut(t)
	any := filepath.Join(mnt, "nodes", "any")
	src := t.TempDir()
	write := func(name string) string {
		data := make([]byte, 8<<20)
		rand.Read(data)
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return sha(data)
	}

	for i := range mountRounds {
		name := fmt.Sprintf("m%d", i)
		dir := filepath.Join(any, name)
		mustSh(t, fmt.Sprintf("mkdir %[1]s && echo busybox > %[1]s/image && echo 'sleep 1000' > %[1]s/cmd", dir))

		// start, interrupted: running, or new and startable again
		interruptAfter(t, cut.delay(), "sh", "-c", "echo start > "+dir+"/ctl")
		testenv.Eventually(t, 60*time.Second, name+" running", func() bool {
			switch st := mustSh(t, "cat "+dir+"/status"); st {
			case "running":
				return true
			case "new":
				out, err := mountSh(t, "echo start > "+dir+"/ctl")
				t.Logf("start again: %v %s", err, out) // the name may still be taken until the late reply's destroy
				return false
			case "starting":
				return false
			default:
				t.Fatalf("status after an interrupted start: %q", st)
				return false
			}
		})
		if out := mustSh(t, "echo 'run echo ok' > "+dir+"/ctl; cat "+dir+"/procs/last/stdout"); out != "ok" {
			t.Fatalf("run after an interrupted start: %q", out)
		}

		// cp into files/, interrupted: the old file, or the new one or a
		// prefix of it (cp opens its target with O_TRUNC and the kernel
		// closes, so flushes, what it had written: a local disk shows the
		// same), never anything else
		f := filepath.Join(dir, "files", "tmp", "f")
		whole := map[string]bool{write("old"): true}
		mustSh(t, fmt.Sprintf("cp %s %s", filepath.Join(src, "old"), f))
		for range mountRounds {
			whole[write("new")] = true
			interruptAfter(t, cut.delay(), "cp", filepath.Join(src, "new"), f)
			got := strings.Fields(mustSh(t, "sha256sum "+f))
			if len(got) == 0 || !whole[got[0]] {
				size := mustSh(t, "stat -c %s "+f)
				prefix := strings.Fields(mustSh(t, fmt.Sprintf("head -c %s %s | sha256sum", size, filepath.Join(src, "new"))))
				if len(got) == 0 || len(prefix) == 0 || prefix[0] != got[0] {
					// O_TRUNC truncates on the node at open and each write is
					// a pwrite there, so nothing else may be left.
					t.Fatalf("after an interrupted cp files/tmp/f (%s bytes) is neither the old file nor a prefix of the new one", size)
				}
				t.Logf("interrupted cp left the first %s bytes of the new file (as on a local disk)", size)
				whole[got[0]] = true
			}
		}
		testenv.Eventually(t, 60*time.Second, "no put temp file left", func() bool {
			return !strings.Contains(mustSh(t, "ls -a "+filepath.Dir(f)), ".tffs-put-")
		})

		// cat of files/, interrupted: a following read works
		want := strings.Fields(mustSh(t, "sha256sum "+f))[0]
		for range mountRounds {
			interruptAfter(t, cut.delay(), "cat", f)
			if got := strings.Fields(mustSh(t, "sha256sum "+f))[0]; got != want {
				t.Fatalf("read after an interrupted cat: %s, want %s", got, want)
			}
		}
		if st := mustSh(t, "cat "+dir+"/status"); st != "running" {
			t.Fatalf("status after the interruptions: %q", st)
		}
		// the name is free again after rmdir
		mustSh(t, fmt.Sprintf("rmdir %[1]s && mkdir %[1]s && echo busybox > %[1]s/image && echo start > %[1]s/ctl && cat %[1]s/status && rmdir %[1]s", dir))
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	unmounted = true
	testenv.Eventually(t, 60*time.Second, "nothing left in containerd", func() bool {
		st := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace())
		return st.Containers == 0 && st.Tasks == 0
	})
}

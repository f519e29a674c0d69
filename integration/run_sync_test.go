package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
)

// TestRunSync: `tffs run --sync LOCAL:/app`: the initial copy leaves out
// what .tffsignore names; a local create, write, delete, rename and new
// directory each reach the container; nothing outside /app is touched.
func TestRunSync(t *testing.T) {
	env := testenv.Start(t)
	local := t.TempDir()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(local, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", "one\n")
	write("sub/b.txt", "bee\n")
	write("x.log", "noise\n")
	write("ignored/c", "no\n")
	write(".tffsignore", "*.log\nignored/\n")
	keep := filepath.Join(t.TempDir(), "keep")
	os.WriteFile(keep, []byte("kept\n"), 0o644)

	cmd := exec.Command(testenv.Binary(t), "run", "-i", "--sync", local+":/app", "-f", keep+":/appx/keep", "busybox", "sh")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	cmd.WaitDelay = 5 * time.Second
	stdin, _ := cmd.StdinPipe()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	n := 0
	// sh runs script in the container; its output up to a marker returns.
	sh := func(script string) string {
		t.Helper()
		n++
		start := len(out.String())
		marker := fmt.Sprintf("END-%d", n)
		fmt.Fprintf(stdin, "%s; echo %s\n", script, marker)
		testenv.Eventually(t, 30*time.Second, "the container shell", func() bool { return strings.Contains(out.String()[start:], marker) })
		s := out.String()[start:]
		return s[:strings.Index(s, marker)]
	}
	if got := sh("cat /app/a.txt /app/sub/b.txt; ls -a /app | tr '\\n' ' '"); got != "one\nbee\n. .. .tffsignore a.txt sub " {
		t.Fatalf("after the initial copy: %q", got)
	}
	seen := func(what, script, want string) {
		t.Helper()
		start := time.Now()
		testenv.Eventually(t, 20*time.Second, what, func() bool { return sh(script) == want })
		t.Logf("%s seen after %v", what, time.Since(start).Round(time.Millisecond))
	}
	write("c.txt", "sea\n")
	seen("a create", "cat /app/c.txt 2>&1", "sea\n")
	write("a.txt", "two\n")
	seen("a write", "cat /app/a.txt", "two\n")
	os.Remove(filepath.Join(local, "sub/b.txt"))
	seen("a delete", "ls /app/sub | wc -l", "0\n")
	os.Rename(filepath.Join(local, "c.txt"), filepath.Join(local, "d.txt"))
	seen("a rename", "ls /app | tr '\\n' ' '", "a.txt d.txt sub ")
	write("newdir/e.txt", "e\n")
	seen("a new directory", "cat /app/newdir/e.txt 2>&1", "e\n")
	write("y.log", "ignored\n")
	if got := sh("ls /appx; ls /app | tr '\\n' ' '"); got != "keep\na.txt d.txt newdir sub " {
		t.Fatalf("outside /app or ignored: %q", got)
	}
}

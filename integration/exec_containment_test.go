package integration

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// A process run in a running container through the SDK is inside it: it
// sees the image's root, the container's main process as its PID 1 and
// the container's network namespace.
func TestExecContainmentSDK(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, time.Minute)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, code, err := ctr.Run(ctx, args...)
		if err != nil || code != 0 {
			t.Fatalf("run %v: %d %v (%q)", args, code, err, out)
		}
		return string(out)
	}
	if got := strings.Fields(run("ls", "/")); strings.Join(got, " ") != "bin dev etc proc root run sys tmp www" {
		t.Fatalf("ls / in the container: %q, want the image's root", got)
	}
	if got := run("cat", "/www/index.html"); got == "" {
		t.Fatal("the image's /www/index.html is empty")
	}
	if got := run("cat", "/proc/1/cmdline"); got != "sleep\x001000\x00" {
		t.Fatalf("PID 1 of an exec'd process: %q", got)
	}
	main := run("readlink", "/proc/1/ns/net")
	if got := run("readlink", "/proc/self/ns/net"); got != main {
		t.Fatalf("exec'd process's network namespace %q, main process's %q", got, main)
	}
	host, _ := os.Readlink("/proc/self/ns/net")
	if strings.TrimSpace(main) == host {
		t.Fatalf("the container's network namespace is the host's: %s", host)
	}
}

// The same through the mount's `run`.
func TestExecContainmentMount(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := t.TempDir()
	m, err := tffsfs.Mount(context.Background(), loc, mnt, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	runScript(t, 2*time.Minute, "exec_containment.sh", mnt)
}

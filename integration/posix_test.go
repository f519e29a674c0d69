package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
)

// TestFSPosix checks that a started container's files/ behaves as a local
// filesystem: the same calls in a local directory and in files/ give the
// same results and errnos (posix_conformance.py), what is made through
// files/ is what the container sees and the other way round
// (posix_container.sh), and everyday tools work in it (posix_tools.sh);
// before start, pre-boot files (posix_preboot.sh) and symlinks, hard
// links, FIFOs and sockets (posix_prekinds.sh) become the container's.
func TestFSPosix(t *testing.T) {
	requireFUSE(t)
	for _, bin := range []string{"git", "rsync", "tar"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (make deps installs it)", bin)
			}
			t.Skipf("%s missing", bin)
		}
	}
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := mountAt(t, loc)
	ctr := filepath.Join(mnt, "nodes", "any", "px")
	mustSh(t, "mkdir "+ctr+" && echo busybox > "+ctr+"/image && echo 'sleep 100000' > "+ctr+"/cmd && echo start > "+ctr+"/ctl")
	files := filepath.Join(ctr, "files")

	t.Run("Conformance", func(t *testing.T) {
		local := t.TempDir()
		want := runScript(t, 2*time.Minute, "posix_conformance.py", local)
		dir := filepath.Join(files, "tmp", "conformance")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		got := runScript(t, 5*time.Minute, "posix_conformance.py", dir)
		wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
		if len(wl) != len(gl) {
			t.Fatalf("transcripts differ in length: %d lines locally, %d in files/", len(wl), len(gl))
		}
		bad := 0
		for i := range wl {
			if wl[i] != gl[i] {
				bad++
				t.Errorf("local:  %s\nfiles/: %s", wl[i], gl[i])
			}
		}
		if bad > 0 {
			t.Fatalf("%d of %d checks differ", bad, len(wl))
		}
	})
	t.Run("ContainerSees", func(t *testing.T) { runScript(t, 2*time.Minute, "posix_container.sh", ctr) })
	t.Run("Tools", func(t *testing.T) { runScript(t, 10*time.Minute, "posix_tools.sh", ctr) })
	t.Run("PreBoot", func(t *testing.T) { runScript(t, 5*time.Minute, "posix_preboot.sh", mnt) })
	t.Run("PreBootKinds", func(t *testing.T) { runScript(t, 5*time.Minute, "posix_prekinds.sh", mnt) })
}

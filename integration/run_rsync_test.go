package integration

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// rsyncLayer is a layer holding the host's rsync and the shared libraries
// and dynamic loader ldd lists for it, each at its host path, so that
// rsync runs on top of busybox (which has none).
func rsyncLayer(t *testing.T) testLayer {
	t.Helper()
	needTools(t, "rsync", "rsync")
	needTools(t, "libc-bin", "ldd")
	bin, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	files := []string{bin}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") { // "libz.so.1 => /lib/…/libz.so.1 (0x…)", "/lib64/ld-linux-x86-64.so.2 (0x…)"
			files = append(files, f)
		}
	}
	var dirs []string
	for _, f := range files {
		for d := path.Dir(f); d != "/" && !slices.Contains(dirs, d); d = path.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs) // parents first
	var entries []tarEntry
	for _, d := range dirs {
		entries = append(entries, tarEntry{hdr: tar.Header{Name: d[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755}})
	}
	for _, f := range files {
		b, err := os.ReadFile(f) // the library itself where the host has a symlink
		if err != nil {
			t.Fatal(err)
		}
		e := regular(f[1:], string(b))
		e.hdr.Mode = 0o755
		entries = append(entries, e)
	}
	return makeLayer(t, true, entries...)
}

// itemized matches the lines `rsync -i` prints for items it changes.
var itemized = regexp.MustCompile(`(?m)^[<>ch.*][fdLDS]\S{9} `)

// TestRunSSHRsync: `rsync -a -e ssh` into a container through `tffs run
// --ssh`, twice: the first run copies the tree, the second moves nothing.
func TestRunSSHRsync(t *testing.T) {
	img := derivedImage(t, busyboxImage(t), nil, rsyncLayer(t))
	r := startSSHRigOn(t, img, "rsyncbox:latest")
	src := filepath.Join(r.dir, "tree")
	big := make([]byte, 1<<20+3)
	rand.Read(big)
	os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha\n"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "big.bin"), big, 0o600)
	os.WriteFile(filepath.Join(src, "sub", "deeper", "c"), nil, 0o755)
	os.Symlink("../a.txt", filepath.Join(src, "sub", "link"))

	e := strings.Join(append([]string{"ssh", "-p", r.port}, r.opts(r.key)...), " ")
	rsync := func() string {
		t.Helper()
		out, code := r.run(t, "", "rsync", "-a", "-i", "--stats", "-e", e, src, "127.0.0.1:/dst")
		if code != 0 {
			t.Fatalf("rsync: exit %d\n%s", code, out)
		}
		return out
	}
	out := rsync()
	t.Logf("first rsync:\n%s", out)
	if !strings.Contains(out, "Number of regular files transferred: 3\n") || len(itemized.FindAllString(out, -1)) != 7 {
		t.Fatalf("first rsync, want 3 files sent and 7 items created (3 directories, 3 files, a symlink):\n%s", out)
	}
	got, code := r.ssh(t, "", "cat /dst/tree/sub/link; stat -c '%a %s' /dst/tree/sub/big.bin /dst/tree/sub/deeper/c; readlink /dst/tree/sub/link")
	if code != 0 || got != "alpha\n600 1048579\n755 0\n../a.txt\n" {
		t.Fatalf("the copy in the container: %d %q", code, got)
	}
	back := filepath.Join(r.dir, "back.bin")
	if out, code := r.run(t, "", "rsync", "-e", e, "127.0.0.1:/dst/tree/sub/big.bin", back); code != 0 {
		t.Fatalf("rsync back: %d %s", code, out)
	}
	if b, _ := os.ReadFile(back); !bytes.Equal(b, big) {
		t.Fatalf("rsync back returned %d bytes, not the %d sent", len(b), len(big))
	}

	out = rsync()
	t.Logf("second rsync:\n%s", out)
	if !strings.Contains(out, "Number of regular files transferred: 0\n") || itemized.MatchString(out) {
		t.Fatalf("second rsync moved something:\n%s", out)
	}
}

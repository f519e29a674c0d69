package runtime

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// fileOps exercises the file API on c (running or not).
func fileOps(t *testing.T, c *Container) {
	ctx := tctx(t)
	data := make([]byte, 10<<20)
	rand.Read(data)
	if err := c.Put(ctx, "/data/sub/big.bin", 0o640, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	rc, fi, err := c.Fetch(ctx, "/data/sub/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes (err %v), want identical %d", len(got), err, len(data))
	}
	if fi.Size != int64(len(data)) || fi.Mode.Perm() != 0o640 || fi.Name != "big.bin" {
		t.Fatalf("fetch info %+v", fi)
	}
	st, err := c.Stat(ctx, "/data/sub")
	if err != nil || !st.Mode.IsDir() {
		t.Fatalf("stat dir: %+v %v", st, err)
	}
	if err := c.Mkdir(ctx, "/data/d1", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(ctx, "/data/d1", 0o750); !errors.Is(err, ErrExists) {
		t.Fatalf("second mkdir: %v", err)
	}
	if st, err := c.Stat(ctx, "/data/d1"); err != nil || st.Mode != os.ModeDir|0o750 {
		t.Fatalf("mkdir mode: %v %v", st.Mode, err)
	}
	if err := c.Rename(ctx, "/data/sub/big.bin", "/data/d1/moved.bin"); err != nil {
		t.Fatal(err)
	}
	list, err := c.List(ctx, "/data/d1")
	if err != nil || len(list) != 1 || list[0].Name != "moved.bin" || list[0].Size != int64(len(data)) {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := c.Stat(ctx, "/data/sub/big.bin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat moved-away: %v", err)
	}
	if _, _, err := c.Fetch(ctx, "/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch missing: %v", err)
	}
	if err := c.Remove(ctx, "/data", false); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove non-empty: %v", err)
	}
	if err := c.Remove(ctx, "/data", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "/data"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat removed: %v", err)
	}
	for _, bad := range []string{"relative", "/a\x00b", ""} {
		if err := c.Put(ctx, bad, 0o644, strings.NewReader("x")); !errors.Is(err, ErrInvalid) {
			t.Fatalf("put %q: %v", bad, err)
		}
	}
	if err := c.Remove(ctx, "/", true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("remove /: %v", err)
	}
	root, err := c.List(ctx, "/")
	if err != nil || len(root) < 3 {
		t.Fatalf("list /: %v %v", root, err)
	}
}

func TestFilesStopped(t *testing.T) {
	r := env(t)
	fileOps(t, create(t, r, Spec{ID: "files-stopped"}))
}

func TestFilesRunning(t *testing.T) {
	r := env(t)
	c := create(t, r, Spec{ID: "files-running", Asleep: true})
	if err := c.Start(tctx(t), nil, nil); err != nil {
		t.Fatal(err)
	}
	fileOps(t, c)
	// The running container sees what Put wrote and Fetch sees its writes.
	ctx := tctx(t)
	c.Put(ctx, "/tmp/in.txt", 0o644, strings.NewReader("from-put"))
	code, out, _ := run(t, c, ExecSpec{Args: []string{"sh", "-c", "cat /tmp/in.txt; echo from-ctr > /tmp/out.txt"}})
	if code != 0 || out != "from-put" {
		t.Fatalf("container read: %d %q", code, out)
	}
	if got := fetchString(t, c, "/tmp/out.txt"); got != "from-ctr\n" {
		t.Fatalf("fetch: %q", got)
	}
}

func fetchString(t *testing.T, c *Container, p string) string {
	t.Helper()
	rc, _, err := c.Fetch(tctx(t), p)
	if err != nil {
		t.Fatalf("fetch %s: %v", p, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// escapeChecks puts through escaping paths and symlinks and verifies the
// host is untouched and the container's files were used.
func escapeChecks(t *testing.T, c *Container, tag string) {
	ctx := tctx(t)
	hostDir, err := os.MkdirTemp("/tmp", "tffs-escape-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(hostDir)
	if err := os.WriteFile(hostDir+"/victim", []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Symlinks planted by the container (created here through the API's
	// own view: we write them with a privileged exec or directly).
	links := map[string]string{
		"/esc-root":   "/",
		"/esc-rel":    "../../../../..",
		"/esc-victim": hostDir + "/victim",
		"/etc/esc-up": "../../../../../../" + strings.TrimPrefix(hostDir, "/"),
	}
	for l, target := range links {
		if err := symlinkIn(t, c, l, target); err != nil {
			t.Fatal(err)
		}
	}
	puts := []string{
		"/esc-root" + hostDir + "/new1",
		"/esc-rel" + hostDir + "/new2",
		"/../../.." + hostDir + "/new3",
		"/esc-victim",
		"/etc/esc-up/new4",
	}
	for _, p := range puts {
		if err := c.Put(ctx, p, 0o644, strings.NewReader("ctr-"+tag)); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
	ents, _ := os.ReadDir(hostDir)
	if len(ents) != 1 {
		t.Fatalf("host dir %s changed: %v", hostDir, ents)
	}
	if b, _ := os.ReadFile(hostDir + "/victim"); string(b) != "host" {
		t.Fatalf("host victim overwritten: %q", b)
	}
	// The writes landed inside the container, at the in-root resolution.
	for _, p := range []string{hostDir + "/new1", hostDir + "/new2", hostDir + "/new3", hostDir + "/victim", hostDir + "/new4"} {
		if got := fetchString(t, c, p); got != "ctr-"+tag {
			t.Fatalf("container %s = %q", p, got)
		}
	}
	// Fetch through a link to /etc/passwd reads the container's passwd.
	if err := symlinkIn(t, c, "/pw", "/etc/passwd"); err != nil {
		t.Fatal(err)
	}
	if got := fetchString(t, c, "/esc-rel/pw"); !strings.HasPrefix(got, "root:x:0:0:root:/root:/bin/sh\nnobody") {
		t.Fatalf("fetched passwd %q", got)
	}
	if fi, err := c.Stat(ctx, "/pw"); err != nil || fi.Link != "/etc/passwd" || fi.Mode&os.ModeSymlink == 0 {
		t.Fatalf("lstat link: %+v %v", fi, err)
	}
	// Remove through a symlinked dir removes inside the container only.
	if err := c.Remove(ctx, "/esc-root"+hostDir, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(hostDir + "/victim"); string(b) != "host" {
		t.Fatalf("host victim removed: %q", b)
	}
}

// symlinkIn makes a symlink inside the container: with ln in a running
// container, else via the mounted root.
func symlinkIn(t *testing.T, c *Container, link, target string) error {
	if c.Pid() != 0 {
		code, _, errs := run(t, c, ExecSpec{Args: []string{"ln", "-sfn", target, link}})
		if code != 0 {
			return fmt.Errorf("ln: %s", errs)
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.withMountedRoot(tctx(t), func(root *os.File) error {
		return unix.Symlinkat(target, int(root.Fd()), strings.TrimPrefix(link, "/"))
	})
}

func TestEscapeStopped(t *testing.T) {
	r := env(t)
	escapeChecks(t, create(t, r, Spec{ID: "esc-stopped"}), "stopped")
}

func TestEscapeRunning(t *testing.T) {
	r := env(t)
	c := create(t, r, Spec{ID: "esc-running", Asleep: true})
	if err := c.Start(tctx(t), nil, nil); err != nil {
		t.Fatal(err)
	}
	escapeChecks(t, c, "running")
}

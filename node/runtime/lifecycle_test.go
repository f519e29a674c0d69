package runtime

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

func TestRebootReset(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c := create(t, r, Spec{ID: "boot1", Asleep: true, Files: []File{{Path: "/etc/pre.txt", Data: []byte("pre")}}})
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	pid1 := c.Pid()
	if code, _, _ := run(t, c, ExecSpec{Args: []string{"sh", "-c", "echo run > /tmp/run.txt; rm /etc/pre.txt"}}); code != 0 {
		t.Fatal("exec failed")
	}
	exited := c.Exited()
	if err := c.Reboot(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	<-exited // old boot's channel closed
	if c.Pid() == 0 || c.Pid() == pid1 {
		t.Fatalf("pid after reboot %d (before %d)", c.Pid(), pid1)
	}
	if got := fetchString(t, c, "/tmp/run.txt"); got != "run\n" {
		t.Fatalf("after reboot run.txt = %q", got)
	}
	if _, err := c.Stat(ctx, "/etc/pre.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pre.txt after reboot: %v", err)
	}
	var out bytes.Buffer
	if err := c.Reset(ctx, &out, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "/tmp/run.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("run.txt after reset: %v", err)
	}
	if got := fetchString(t, c, "/etc/pre.txt"); got != "pre" {
		t.Fatalf("pre.txt after reset = %q", got)
	}
	if code, out, _ := run(t, c, ExecSpec{Args: []string{"cat", "/etc/pre.txt"}}); code != 0 || out != "pre" {
		t.Fatalf("container sees pre.txt: %d %q", code, out)
	}
	// Reboot of an exited container starts it again.
	c.Kill(ctx, 9)
	c.Wait(ctx)
	if err := c.Reboot(ctx, nil, nil); err != nil || c.Pid() == 0 {
		t.Fatalf("reboot exited: %v", err)
	}
}

func TestDestroyLeavesNothing(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c, err := r.Create(ctx, Spec{ID: "gone1", Image: "busybox", Asleep: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A long-running exec with stdin that never ends.
	pr, pw := bytesPipe()
	defer pw.Close()
	if _, err := c.Exec(ctx, ExecSpec{Args: []string{"cat"}, Stdin: pr}); err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	assertGone(t, r, "gone1")
	if alive(pid) {
		t.Fatalf("main process %d still alive", pid)
	}
	if _, err := c.Stat(ctx, "/"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat after destroy: %v", err)
	}
	if err := c.Start(ctx, nil, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("start after destroy: %v", err)
	}
}

// assertGone checks that nothing of container id remains.
func assertGone(t *testing.T, r *Runtime, id string) {
	t.Helper()
	ctx := r.nsCtx(tctx(t))
	if _, ok := r.Get(id); ok {
		t.Error("Get still finds", id)
	}
	if _, err := r.client.LoadContainer(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("containerd container %s: %v", id, err)
	}
	if _, err := r.client.SnapshotService(snapshotter).Stat(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("snapshot %s: %v", id, err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, r.netnsName(id))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns of %s: %v", id, err)
	}
	if ents, _ := os.ReadDir(fifoDir(r.cfg.StateDir)); len(ents) != 0 && len(r.containers) == 0 {
		t.Errorf("fifo dirs left: %v", ents)
	}
	if ents, _ := os.ReadDir(mountDir(r.cfg.StateDir)); len(ents) != 0 {
		t.Errorf("temp mounts left: %v", ents)
	}
}

func TestCleanupOrphans(t *testing.T) {
	env(t)
	ctx := tctx(t)
	state := filepath.Join(testDir, "orph-state")
	cfg := Config{Socket: testDaemon.Socket(), Namespace: "tffs-orph", StateDir: state, Log: testLog}
	r1, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := installBusybox(ctx, r1); err != nil {
		t.Fatal(err)
	}
	a, err := r1.Create(ctx, Spec{ID: "o1", Image: "busybox", Asleep: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r1.Create(ctx, Spec{ID: "o2", Image: "busybox"}); err != nil {
		t.Fatal(err)
	}
	r1.Close() // "node crash": nothing destroyed

	r2, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	n, err := r2.CleanupOrphans(ctx)
	if err != nil || n != 2 {
		t.Fatalf("cleanup: %d %v", n, err)
	}
	assertGone(t, r2, "o1")
	assertGone(t, r2, "o2")
	if n, err := r2.CleanupOrphans(ctx); n != 0 || err != nil {
		t.Fatalf("second cleanup: %d %v", n, err)
	}
	// The image survives and is usable.
	c, err := r2.Create(ctx, Spec{ID: "o1", Image: "busybox", Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(ctx, nil, nil)
	if code, err := c.Wait(ctx); code != 0 || err != nil {
		t.Fatalf("after cleanup: %d %v", code, err)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	// The shared test namespace was not touched.
	if _, err := testRT.client.GetImage(testRT.nsCtx(ctx), "busybox"); err != nil {
		t.Fatal(err)
	}
}

func TestWhiteoutLayer(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	base := busyboxLayer(
		tarEntry{name: "etc/gone.txt", typ: tar.TypeReg, mode: 0o644, data: []byte("gone")},
		tarEntry{name: "etc/keep.txt", typ: tar.TypeReg, mode: 0o644, data: []byte("keep")},
		tarEntry{name: "olddir/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "olddir/a", typ: tar.TypeReg, mode: 0o644, data: []byte("a")},
	)
	top := makeTar([]tarEntry{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/.wh.gone.txt", typ: tar.TypeReg, mode: 0o644},
		{name: "olddir/", typ: tar.TypeDir, mode: 0o755},
		{name: "olddir/.wh..wh..opq", typ: tar.TypeReg, mode: 0o644},
		{name: "olddir/b", typ: tar.TypeReg, mode: 0o644, data: []byte("b")},
	})
	if err := writeImage(ctx, r, "whiteout", base, top); err != nil {
		t.Fatal(err)
	}
	// Idempotent and cheap the second time.
	if err := writeImage(ctx, r, "whiteout", base, top); err != nil {
		t.Fatal(err)
	}
	c := create(t, r, Spec{ID: "wh1", Image: "whiteout", Args: []string{"sh", "-c", "cat /etc/keep.txt; test -e /etc/gone.txt && echo present || echo absent; ls /olddir"}})
	var out bytes.Buffer
	if err := c.Start(ctx, &out, nil); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.Wait(ctx); code != 0 || out.String() != "keepabsent\nb\n" {
		t.Fatalf("whiteout: %d %q", code, out.String())
	}
}

func TestImageErrors(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	data := []byte("some blob")
	d := digest.FromBytes(data)
	if err := r.WriteBlob(ctx, digest.FromString("other").String(), int64(len(data)), bytes.NewReader(data)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("digest mismatch: %v", err)
	}
	if r.HasBlob(ctx, digest.FromString("other").String()) {
		t.Fatal("mismatched blob stored")
	}
	if err := r.WriteBlob(ctx, d.String(), 3, bytes.NewReader(data)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("size mismatch: %v", err)
	}
	if err := r.WriteBlob(ctx, "sha256:nothex", 1, strings.NewReader("x")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad digest: %v", err)
	}
	if err := r.WriteBlob(ctx, d.String(), int64(len(data)), bytes.NewReader(data)); err != nil || !r.HasBlob(ctx, d.String()) {
		t.Fatalf("write blob: %v", err)
	}
	missing := digest.FromString("missing layer")
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + missing.String() + `"]}}`)
	err := r.EnsureImage(ctx, ImageSpec{Name: "broken", Config: cfg, Layers: []Layer{{Digest: missing.String(), Size: 10}}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing layer: %v", err)
	}
	err = r.EnsureImage(ctx, ImageSpec{Name: "broken", Config: cfg, ConfigDigest: d.String(), Layers: []Layer{{Digest: missing.String(), Size: 10}}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("config digest mismatch: %v", err)
	}
}

// alive reports whether pid runs (zombies count as dead).
func alive(pid uint32) bool {
	for range 20 {
		raw, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
		if err != nil {
			return false
		}
		i := bytes.LastIndexByte(raw, ')')
		if i > 0 && i+2 < len(raw) && raw[i+2] == 'Z' {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// bytesPipe returns a pipe whose reader blocks until written or closed.
func bytesPipe() (*os.File, *os.File) {
	pr, pw, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	return pr, pw
}

func TestDaemonStopKillsShims(t *testing.T) {
	env(t)
	ctx := tctx(t)
	d, err := StartContainerd(ctx, filepath.Join(testDir, "d2"), testLog)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	r, err := New(ctx, Config{Socket: d.Socket(), Namespace: "tffs-stop", StateDir: filepath.Join(testDir, "stop-state"), Log: testLog})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := installBusybox(ctx, r); err != nil {
		t.Fatal(err)
	}
	c, err := r.Create(ctx, Spec{ID: "s1", Image: "busybox", Asleep: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	defer deleteNetns(c.NetNSName())
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(d.Socket()); strings.Contains(l, "shim") {
		t.Fatalf("after Stop: %s", l)
	}
	if alive(pid) {
		t.Fatalf("container process %d survived Stop", pid)
	}
}

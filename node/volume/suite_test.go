package volume

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tffs/tffs/protocol"
)

// runSuite is the driver test suite every driver runs.
func runSuite(t *testing.T, d Driver) {
	ctx := context.Background()
	write := func(id, name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(d.Path(id), name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(id, name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(d.Path(id), name))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	t.Run("create", func(t *testing.T) {
		if err := d.Create(ctx, "v1"); err != nil {
			t.Fatal(err)
		}
		if err := d.Create(ctx, "v1"); !errors.Is(err, protocol.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		for _, bad := range []string{"", "../x", "a/b", ".hidden"} {
			if err := d.Create(ctx, bad); !errors.Is(err, protocol.ErrInvalid) {
				t.Fatalf("create %q: %v, want ErrInvalid", bad, err)
			}
		}
		ids, err := d.List(ctx)
		if err != nil || !slices.Contains(ids, "v1") {
			t.Fatalf("list: %v %v", ids, err)
		}
	})
	t.Run("snapshot-rollback", func(t *testing.T) {
		write("v1", "a", "one")
		if err := d.Rollback(ctx, "v1"); !errors.Is(err, protocol.ErrNotFound) {
			t.Fatalf("rollback without snapshot: %v, want ErrNotFound", err)
		}
		s1, err := d.Snapshot(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		write("v1", "a", "two")
		write("v1", "b", "new")
		if err := d.Rollback(ctx, "v1"); err != nil {
			t.Fatal(err)
		}
		if got := read("v1", "a"); got != "one" {
			t.Fatalf("after rollback a = %q, want one", got)
		}
		if _, err := os.Stat(filepath.Join(d.Path("v1"), "b")); !os.IsNotExist(err) {
			t.Fatalf("b survived the rollback: %v", err)
		}
		write("v1", "a", "three")
		s2, err := d.Snapshot(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		snaps, err := d.Snapshots(ctx, "v1")
		if err != nil || !slices.Equal(snaps, []string{s1, s2}) {
			t.Fatalf("snapshots %v %v, want [%s %s]", snaps, err, s1, s2)
		}
		write("v1", "a", "four")
		if err := d.Rollback(ctx, "v1"); err != nil {
			t.Fatal(err)
		}
		if got := read("v1", "a"); got != "three" {
			t.Fatalf("rollback goes to the last snapshot: a = %q, want three", got)
		}
		if n, err := d.Usage(ctx, "v1"); err != nil || n < 5 {
			t.Fatalf("usage %d %v", n, err)
		}
	})
	t.Run("send-receive", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Join(d.Path("v1"), "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		write("v1", "sub/f", "deep")
		if err := os.Symlink("/etc/passwd", filepath.Join(d.Path("v1"), "link")); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := d.Send(ctx, "v1", &buf); err != nil {
			t.Fatal(err)
		}
		// A stream cut short fails and leaves nothing.
		half := bytes.NewReader(buf.Bytes()[:buf.Len()/2])
		if err := d.Receive(ctx, "v2", io.MultiReader(half)); err == nil {
			t.Fatal("receive of half a stream succeeded")
		}
		if ids, _ := d.List(ctx); slices.Contains(ids, "v2") {
			t.Fatalf("half a receive left volume v2: %v", ids)
		}
		if err := d.Receive(ctx, "v2", bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatal(err)
		}
		if got := read("v2", "sub/f"); got != "deep" {
			t.Fatalf("received sub/f = %q", got)
		}
		if l, err := os.Readlink(filepath.Join(d.Path("v2"), "link")); err != nil || l != "/etc/passwd" {
			t.Fatalf("received link %q %v", l, err)
		}
		write("v2", "a", "changed") // the copy is writable and apart
		if got := read("v1", "a"); got != "three" {
			t.Fatalf("source changed with the copy: %q", got)
		}
	})
	t.Run("destroy", func(t *testing.T) {
		for _, id := range []string{"v1", "v2"} {
			if err := d.Destroy(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := d.Destroy(ctx, id); !errors.Is(err, protocol.ErrNotFound) {
				t.Fatalf("second destroy: %v, want ErrNotFound", err)
			}
		}
		if ids, err := d.List(ctx); err != nil || len(ids) != 0 {
			t.Fatalf("after destroy: %v %v", ids, err)
		}
	})
}

func TestDirDriver(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	runSuite(t, d)
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

// need skips (or fails under CI=true) a test without a prerequisite.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(what)
	}
	t.Skip(what)
}

func TestBtrfsDriver(t *testing.T) {
	_, err := exec.LookPath("mkfs.btrfs")
	need(t, err == nil && os.Geteuid() == 0, "needs root and btrfs-progs (make deps)")
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	unmount, err := MountBtrfsFile(filepath.Join(dir, "btrfs.img"), mnt, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmount() })
	root := filepath.Join(mnt, "volumes")
	d, err := NewBtrfs(root)
	if err != nil {
		t.Fatal(err)
	}
	runSuite(t, d)
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	out, err := exec.Command("btrfs", "subvolume", "list", mnt).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("subvolumes left: %s %v", out, err)
	}
	if _, err := NewBtrfs(t.TempDir()); !errors.Is(err, protocol.ErrInvalid) {
		t.Fatalf("btrfs driver on a non-btrfs directory: %v", err)
	}
}

// TestZFSDriver runs the suite where zfs exists, on the dataset named by
// TFFS_ZFS_DATASET (default "tffs-test" under the first pool). It is
// skipped where the zfs command is missing, in CI too: this machine kind
// has no ZFS kernel module.
func TestZFSDriver(t *testing.T) {
	if _, err := exec.LookPath("zfs"); err != nil {
		t.Skip("no zfs command: the zfs driver cannot run here")
	}
	ds := os.Getenv("TFFS_ZFS_DATASET")
	if ds == "" {
		out, err := exec.Command("zpool", "list", "-H", "-o", "name").Output()
		pools := bytes.Fields(out)
		if err != nil || len(pools) == 0 {
			t.Skip("zfs without a pool: set TFFS_ZFS_DATASET")
		}
		ds = string(pools[0]) + "/tffs-test"
	}
	d, err := NewZFS(ds)
	if err != nil {
		t.Fatal(err)
	}
	runSuite(t, d)
}

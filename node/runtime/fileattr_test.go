package runtime

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFileAttrsRunning: setattr, make, ranged read and write on a running
// container act on its files as it sees them, and never reach the node's
// files, a FIFO or a kernel pseudo filesystem.
func TestFileAttrsRunning(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c := create(t, r, Spec{ID: "fileattrs", Asleep: true})
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := c.Make(ctx, "/tmp/a", MakeSpec{Kind: MakeFile, Mode: 0o640, Excl: true})
	if err != nil || fi.Mode != 0o640 || fi.Extra.UID != 0 || fi.Extra.Nlink != 1 {
		t.Fatalf("make: %+v %v", fi, err)
	}
	if _, err := c.Make(ctx, "/tmp/a", MakeSpec{Kind: MakeFile, Excl: true}); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("make O_EXCL of an existing file: %v", err)
	}
	if n, size, err := c.WriteAt(ctx, "/tmp/a", 5, []byte("xyz"), false, true); err != nil || n != 3 || size != 8 {
		t.Fatalf("write: %d %d %v", n, size, err)
	}
	if b, err := c.ReadAt(ctx, "/tmp/a", 0, 100); err != nil || !bytes.Equal(b, []byte("\x00\x00\x00\x00\x00xyz")) {
		t.Fatalf("read: %q %v", b, err)
	}
	mtime := time.Unix(1000000000, 123456789)
	fi, err = c.Setattr(ctx, "/tmp/a", SetAttr{SetUID: true, SetGID: true, UID: 1000, GID: 1001})
	if err == nil {
		fi, err = c.Setattr(ctx, "/tmp/a", SetAttr{SetMode: true, Mode: 0o4751, SetMtime: true, Mtime: mtime, SetSize: true, Size: 4})
	}
	if err != nil || fi.Extra.UID != 1000 || fi.Extra.GID != 1001 || fi.Mode != os.ModeSetuid|0o751 || fi.Size != 4 || !fi.ModTime.Equal(mtime) {
		t.Fatalf("setattr: %+v %v", fi, err)
	}
	code, out, _ := run(t, c, ExecSpec{Args: []string{"sh", "-c", "stat -c '%u %g %a %s %Y' /tmp/a"}})
	if code != 0 || out != "1000 1001 4751 4 1000000000\n" {
		t.Fatalf("the container sees %q (%d)", out, code)
	}
	if _, err := c.Setattr(ctx, "/tmp/a", SetAttr{SetUID: true, UID: 1 << 20}); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("chown to an unmapped id: %v", err)
	}
	// links: a symlink is changed itself, never followed out of the root
	if _, err := c.Make(ctx, "/tmp/l", MakeSpec{Kind: MakeSymlink, Target: "../../../../tmp/a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setattr(ctx, "/tmp/l", SetAttr{SetMode: true, Mode: 0o777}); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("chmod of a symlink: %v", err)
	}
	fi, err = c.Setattr(ctx, "/tmp/l", SetAttr{SetUID: true, UID: 7})
	if err != nil || fi.Extra.UID != 7 || fi.Mode&os.ModeSymlink == 0 || fi.Resolved != "/tmp/a" {
		t.Fatalf("lchown: %+v %v", fi, err)
	}
	if _, _, err := c.WriteAt(ctx, "/tmp/l", 0, []byte("through-link"), false, false); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(t, c, ExecSpec{Args: []string{"sh", "-c", "cat /tmp/a"}}); code != 0 || !strings.HasPrefix(out, "through-link") {
		t.Fatalf("write through a link lands in the container: %q", out)
	}
	if _, err := c.Make(ctx, "/tmp/h", MakeSpec{Kind: MakeLink, Target: "/tmp/a"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat(ctx, "/tmp/a"); err != nil || fi.Extra.Nlink != 2 {
		t.Fatalf("nlink after a hard link: %+v %v", fi, err)
	}
	// special files are made, never opened
	if _, err := c.Make(ctx, "/tmp/fifo", MakeSpec{Kind: MakeFIFO, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.WriteAt(ctx, "/tmp/fifo", 0, []byte("x"), false, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("write to a FIFO: %v", err)
	}
	if _, err := c.ReadAt(ctx, "/tmp/fifo", 0, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("read of a FIFO: %v", err)
	}
	if _, err := c.Setattr(ctx, "/tmp/fifo", SetAttr{SetSize: true}); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("truncate of a FIFO: %v", err)
	}
	if _, err := c.Make(ctx, "/tmp/dev", MakeSpec{Kind: "chr"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("make a device: %v", err)
	}
	// kernel pseudo filesystems are never changed
	for _, p := range []string{"/proc/sys/kernel/hostname", "/sys/kernel/uevent_seqnum"} {
		if _, _, err := c.WriteAt(ctx, p, 0, []byte("x"), false, false); !errors.Is(err, unix.EPERM) {
			t.Fatalf("write %s: %v", p, err)
		}
		if _, err := c.Setattr(ctx, p, SetAttr{SetMode: true, Mode: 0o777}); !errors.Is(err, unix.EPERM) {
			t.Fatalf("chmod %s: %v", p, err)
		}
	}
	if _, err := c.Make(ctx, "/proc/x", MakeSpec{Kind: MakeFIFO}); !errors.Is(err, unix.EPERM) {
		t.Fatalf("mkfifo in /proc: %v", err)
	}
	st, err := c.Statfs(ctx, "/tmp")
	if err != nil || st.Blocks == 0 || st.Namelen != 255 {
		t.Fatalf("statfs: %+v %v", st, err)
	}
	if err := c.Sync(ctx, "/tmp/a"); err != nil {
		t.Fatal(err)
	}
}

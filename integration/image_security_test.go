package integration

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// specialsLayer ships the node's kernel log device (char 1:11) and a FIFO,
// as a hostile image can without any capability.
func specialsLayer(t *testing.T) testLayer {
	return makeLayer(t, false,
		tarEntry{hdr: tar.Header{Name: "sp/", Typeflag: tar.TypeDir, Mode: 0o755}},
		tarEntry{hdr: tar.Header{Name: "sp/kmsg", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 11}},
		tarEntry{hdr: tar.Header{Name: "sp/fifo", Typeflag: tar.TypeFifo, Mode: 0o666}},
	)
}

// checkSpecialsRefused checks that fetch and put of a device or FIFO fail
// with ErrInvalid and the reason, and that stat and list show them with
// their real types.
func checkSpecialsRefused(t *testing.T, ctr *sdk.Container, paths map[string]string) {
	t.Helper()
	ctx := testenv.Ctx(t, time.Minute)
	for p, kind := range paths {
		if _, err := ctr.Fetch(ctx, p); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), kind) {
			t.Errorf("fetch %s: %v, want ErrInvalid saying %q", p, err, kind)
		}
		if err := ctr.Put(ctx, p, []byte("x")); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), kind) {
			t.Errorf("put over %s: %v, want ErrInvalid saying %q", p, err, kind)
		}
		fi, err := ctr.Stat(ctx, p)
		mode := os.FileMode(fi.Mode)
		if err != nil || (kind == "character device") != (mode&os.ModeCharDevice != 0) || (kind == "FIFO") != (mode&os.ModeNamedPipe != 0) {
			t.Errorf("stat %s: mode %v %v, want a %s", p, mode, err, kind)
		}
	}
	list, err := ctr.List(ctx, "/sp")
	if err != nil || len(list) != 2 || os.FileMode(list[0].Mode)&os.ModeNamedPipe == 0 || os.FileMode(list[1].Mode)&os.ModeCharDevice == 0 {
		t.Errorf("list /sp: %+v %v", list, err)
	}
}

// TestSpecialFilesAreNeverOpened: a device node or FIFO shipped in an
// image or made in the container is never opened by a fetch or replaced by
// a put, running or stopped; a FIFO cannot wedge a stopped container.
func TestSpecialFilesAreNeverOpened(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 3*time.Minute)
	bb := busyboxImage(t)
	if err := loc.EnsureImage(ctx, derivedImage(t, bb, nil, specialsLayer(t)), "specials", nil); err != nil {
		t.Fatal(err)
	}
	image := map[string]string{"/sp/kmsg": "character device", "/sp/fifo": "FIFO"}

	// Browsing the image through the master shows the types and refuses to read them.
	list, err := loc.ListImage(ctx, "specials", "/sp")
	if err != nil || len(list) != 2 || os.FileMode(list[0].Mode)&os.ModeNamedPipe == 0 || os.FileMode(list[1].Mode)&os.ModeCharDevice == 0 {
		t.Fatalf("list image /sp: %+v %v", list, err)
	}
	for p, kind := range image {
		rc, _, err := loc.FetchImageFile(ctx, "specials", p)
		if rc != nil {
			rc.Close()
		}
		if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), kind) {
			t.Errorf("fetch image file %s: %v", p, err)
		}
	}

	running, err := loc.Node().SpawnContainer(ctx, "specials", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	checkSpecialsRefused(t, running, image)
	// Made in the running container: a FIFO (no capability needed), a
	// character device when the container may mknod, and a link to one.
	made := map[string]string{"/tmp/f": "FIFO", "/tmp/l": "FIFO"}
	if _, code, err := running.Run(ctx, "sh", "-c", "mkfifo /tmp/f && ln -s /tmp/f /tmp/l"); err != nil || code != 0 {
		t.Fatalf("mkfifo: %d %v", code, err)
	}
	if _, code, _ := running.Run(ctx, "mknod", "/tmp/k", "c", "1", "11"); code == 0 {
		made["/tmp/k"] = "character device"
	}
	for p, kind := range made {
		if _, err := running.Fetch(ctx, p); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), kind) {
			t.Errorf("fetch %s made in the container: %v", p, err)
		}
	}

	// /proc and /sys of a running container are the node's kernel: a fetch
	// never opens their files (/proc/kmsg is the node's kernel log).
	for _, p := range []string{"/proc/kmsg", "/sys/kernel/uevent_seqnum"} {
		if _, err := running.Fetch(ctx, p); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "filesystem") {
			t.Errorf("fetch %s: %v, want ErrInvalid", p, err)
		}
	}

	stopped, err := loc.Node().SpawnContainer(ctx, "specials", sdk.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := stopped.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("wait: %d %v", code, err)
	}
	checkSpecialsRefused(t, stopped, image)
	// The stopped container is not wedged: it is destroyed, and containerd is empty.
	for _, c := range []*sdk.Container{stopped, running} {
		if err := c.Destroy(ctx); err != nil {
			t.Fatalf("destroy: %v", err)
		}
	}
	sock := env.Loc.Node.ContainerdSocket()
	testenv.Eventually(t, 30*time.Second, "containerd empty", func() bool {
		st := testenv.Inspect(t, sock, env.Namespace())
		return st.Containers+st.Tasks+st.Snapshots == 0
	})
}

// TestSameImageNameAcrossAccounts: two accounts import different images
// under one name and spawn, reboot and reset concurrently; each container
// only ever sees its own account's files, and a container resets into the
// content it was created from even when its own account re-imports the name.
func TestSameImageNameAcrossAccounts(t *testing.T) {
	env := testenv.Start(t)
	a := env.Connect(t)
	b := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "other")))
	ctx := testenv.Ctx(t, 4*time.Minute)
	bb := busyboxImage(t)
	imageOf := func(who string) *sdk.Image {
		return derivedImage(t, bb, nil, makeLayer(t, false, regular("who", who)))
	}
	sees := func(c *sdk.Container, want string) error {
		out, code, err := c.Run(ctx, "cat", "/who")
		if err != nil || code != 0 || string(out) != want {
			return fmt.Errorf("container %s sees /who = %q (%d, %v), want %q", c.ID, out, code, err, want)
		}
		if got, err := c.Fetch(ctx, "/who"); err != nil || string(got) != want {
			return fmt.Errorf("container %s: fetch /who = %q (%v), want %q", c.ID, got, err, want)
		}
		return nil
	}

	if err := a.EnsureImage(ctx, imageOf("A1"), "busybox", nil); err != nil {
		t.Fatal(err)
	}
	first, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	if err := sees(first, "A1"); err != nil {
		t.Fatal(err)
	}
	// The break as it was done: B imports its own busybox, A resets.
	if err := b.EnsureImage(ctx, imageOf("B"), "busybox", nil); err != nil {
		t.Fatal(err)
	}
	if err := first.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sees(first, "A1"); err != nil {
		t.Fatal(err)
	}
	// A re-imports the name: new spawns get the new content, the old
	// container keeps resetting into what it was created from.
	if err := a.EnsureImage(ctx, imageOf("A2"), "busybox", nil); err != nil {
		t.Fatal(err)
	}
	if err := first.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sees(first, "A1"); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for _, acct := range []struct {
		loc *sdk.Location
		who string
	}{{a, "A2"}, {b, "B"}, {a, "A2"}, {b, "B"}, {a, "A2"}, {b, "B"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := acct.loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Destroy(ctx)
			for _, step := range []func() error{
				func() error { return nil },
				func() error { return c.Reboot(ctx) },
				func() error { return c.Reset(ctx) },
			} {
				if err := step(); err != nil {
					t.Error(err)
					return
				}
				if err := sees(c, acct.who); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := sees(first, "A1"); err != nil {
		t.Fatal(err)
	}
}

// TestImportRefusesForeignLayerUnderReusedConfig: an account that reuses
// another image's config with a layer of its own is refused at import
// (the layer's diff_id does not match), stores nothing, and cannot change
// what another account's image shows.
func TestImportRefusesForeignLayerUnderReusedConfig(t *testing.T) {
	env := testenv.Start(t)
	a := env.Connect(t)
	b := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "attacker")))
	ctx := testenv.Ctx(t, 2*time.Minute)
	bb := busyboxImage(t)

	before, err := a.ListImage(ctx, "busybox", "/") // builds and caches A's tree
	if err != nil {
		t.Fatal(err)
	}
	evil := ociImage(t, bb.Config, []testLayer{makeLayer(t, true, regular("etc/passwd", "evil\n"), regular("planted", "x"))})
	if evil.ConfigDigest != bb.ConfigDigest {
		t.Fatal("the forged image should reuse busybox's config")
	}
	if err := b.EnsureImage(ctx, evil, "busybox", nil); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "diff_id") {
		t.Fatalf("import of a foreign layer under busybox's config: %v, want ErrInvalid (diff_id)", err)
	}
	if _, err := b.ListImage(ctx, "busybox", "/"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("the refused image was stored: %v", err)
	}
	after, err := a.ListImage(ctx, "busybox", "/")
	if err != nil || len(after) != len(before) {
		t.Fatalf("A's busybox root changed: %d entries, was %d (%v)", len(after), len(before), err)
	}
	if _, err := a.ListImage(ctx, "busybox", "/planted"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("A's image shows the attacker's file: %v", err)
	}
	rc, _, err := a.FetchImageFile(ctx, "busybox", "/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.HasPrefix(string(data), "root:") {
		t.Fatalf("A's /etc/passwd: %q", data)
	}
	c, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	if _, code, _ := c.Run(ctx, "test", "-e", "/planted"); code == 0 {
		t.Fatal("A's container has the attacker's file")
	}
}

// TestImageBrowseLimit: browsing an image over the master's entry limit
// fails with ErrLimit, and other accounts browse meanwhile.
func TestImageBrowseLimit(t *testing.T) {
	env := testenv.Start(t, func(c *location.Config) { c.LayerMaxEntries = 3000 })
	a := env.Connect(t)
	b := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "many")))
	ctx := testenv.Ctx(t, 2*time.Minute)
	var ents []tarEntry
	for i := range 4000 {
		ents = append(ents, regular(fmt.Sprintf("d%d/f%d", i%10, i), ""))
	}
	if err := b.EnsureImage(ctx, derivedImage(t, busyboxImage(t), nil, makeLayer(t, true, ents...)), "many", nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 3 {
			if _, err := b.ListImage(ctx, "many", "/"); !errors.Is(err, sdk.ErrLimit) {
				t.Errorf("list an image over the entry limit: %v, want ErrLimit", err)
			}
			rc, _, err := b.FetchImageFile(ctx, "many", "/bin/busybox")
			if rc != nil {
				rc.Close()
			}
			if !errors.Is(err, sdk.ErrLimit) {
				t.Errorf("fetch from an image over the entry limit: %v, want ErrLimit", err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 20 {
			if bin, err := a.ListImage(ctx, "busybox", "/bin"); err != nil || len(bin) < 10 {
				t.Errorf("another account's browsing: %d entries, %v", len(bin), err)
				return
			}
		}
	}()
	wg.Wait()
	if _, err := a.ListImage(ctx, "busybox", "/etc"); err != nil {
		t.Fatalf("master after the limit: %v", err)
	}
}

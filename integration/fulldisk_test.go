package integration

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// smallDisk mounts a fresh ext4 filesystem of size bytes (a loop device
// over a sparse file) at dir, unmounted and removed at cleanup (which runs
// after the cleanups registered later, so after the location stops).
func smallDisk(t *testing.T, dir string, size int64) {
	t.Helper()
	img := dir + ".img"
	if err := os.MkdirAll(filepath.Dir(img), 0o711); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { os.Remove(img) })
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if !mounted(dir) {
			return // the node's containerd unmounts what is below its dir when it stops
		}
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// tempPuts lists the temporary files of puts left under dir.
func tempPuts(dir string) []string {
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tffs-put-") {
			left = append(left, p)
		}
		return nil
	})
	return left
}

// TestPutFillsNodeDisk: the node's containerd root (where the containers'
// snapshots live) is a 64 MiB filesystem. A put larger than what is free
// fails with ErrNoSpace, leaves no partial file, and changes nothing else:
// the container runs on, an earlier file is intact, the node serves, and
// a put that fits works afterwards.
func TestPutFillsNodeDisk(t *testing.T) {
	testenv.Require(t)
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing", tool)
			}
			t.Skipf("%s missing", tool)
		}
	}
	dir, err := os.MkdirTemp("/tmp", "tffs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the unmount below
	root := filepath.Join(dir, "node", "containerd", "root")
	smallDisk(t, root, 64<<20)
	l, _ := startLocationIn(t, dir)
	ctx := testenv.Ctx(t, 3*time.Minute)
	loc, err := sdk.Connect(ctx, sdk.WithDir(l.ClientDir), sdk.WithLocation(l.Config.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Close()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	keep := bytes.Repeat([]byte("keep"), 1<<18) // 1 MiB
	if err := ctr.Put(ctx, "/keep", keep); err != nil {
		t.Fatal(err)
	}

	// More than the whole disk: it must fail part-way.
	err = ctr.PutReader(ctx, "/big", io.LimitReader(zeros{}, 96<<20), 0o644)
	if !errors.Is(err, sdk.ErrNoSpace) {
		t.Fatalf("put filling the disk = %v, want ErrNoSpace", err)
	}
	if !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("put filling the disk says %q, want it to say no space left", err)
	}
	t.Logf("put filling the disk: %v", err)
	if left := tempPuts(root); len(left) > 0 {
		t.Fatalf("partial put files left: %v", left)
	}
	if _, err := ctr.Fetch(ctx, "/big"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("fetch of the failed put = %v, want ErrNotFound", err)
	}
	if got, err := ctr.Fetch(ctx, "/keep"); err != nil || !bytes.Equal(got, keep) {
		t.Fatalf("earlier file after the failed put: %d bytes, %v", len(got), err)
	}
	if out, code, err := ctr.Run(ctx, "echo", "alive"); err != nil || code != 0 || string(out) != "alive\n" {
		t.Fatalf("run after the failed put: %q %d %v", out, code, err)
	}
	select {
	case <-l.Done():
		t.Fatalf("location went down: %v", l.Err())
	default:
	}

	// The failed put freed what it wrote: a put that fits works.
	next := bytes.Repeat([]byte("next"), 4<<20) // 16 MiB
	if err := ctr.Put(ctx, "/next", next); err != nil {
		t.Fatalf("put after the failed one: %v", err)
	}
	if got, err := ctr.Fetch(ctx, "/next"); err != nil || !bytes.Equal(got, next) {
		t.Fatalf("fetch after the failed put: %d bytes, %v", len(got), err)
	}
	other, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatalf("spawn after the failed put: %v", err)
	}
	if err := other.Destroy(ctx); err != nil {
		t.Fatal(err)
	}

	// Pre-boot files: with the disk all but full, a spawn whose pre-boot
	// file does not fit fails with ErrNoSpace and leaves no container (its
	// name is free); after space is freed the same spawn works.
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if err := ctr.PutReader(ctx, "/ballast", io.LimitReader(zeros{}, free-128<<10), 0o644); err != nil {
		t.Fatalf("ballast of %d bytes: %v", free-128<<10, err)
	}
	page := bytes.Repeat([]byte("x"), 900<<10)
	spawn := func() (*sdk.Container, error) {
		return loc.Node().SpawnContainer(ctx, "busybox", sdk.Name("pb"), sdk.PreBootFile("/www/index.html", page),
			sdk.Command("sleep", "1000"))
	}
	if _, err := spawn(); !errors.Is(err, sdk.ErrNoSpace) {
		t.Fatalf("spawn with a pre-boot file on a full disk = %v, want ErrNoSpace", err)
	} else {
		t.Logf("spawn on a full disk: %v", err)
	}
	infos, err := loc.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Name == "pb" {
			t.Fatalf("the failed spawn left its container: %+v", in)
		}
	}
	if left := tempPuts(root); len(left) > 0 {
		t.Fatalf("partial pre-boot files left: %v", left)
	}

	// Image unpack: an image the node does not have yet cannot be stored
	// on the full disk; the spawn fails with ErrNoSpace.
	big := derivedImage(t, busyboxImage(t), nil, makeLayer(t, false, regular("big", strings.Repeat("z", 4<<20))))
	if err := loc.EnsureImage(ctx, big, "big", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := loc.Node().SpawnContainer(ctx, "big", sdk.Name("bigc"), sdk.Command("sleep", "1000")); !errors.Is(err, sdk.ErrNoSpace) {
		t.Fatalf("spawn of a new image on a full disk = %v, want ErrNoSpace", err)
	} else {
		t.Logf("image unpack on a full disk: %v", err)
	}

	if err := ctr.Remove(ctx, "/ballast", false); err != nil {
		t.Fatal(err)
	}
	pb, err := spawn()
	if err != nil {
		t.Fatalf("spawn after space was freed: %v", err)
	}
	if got, err := pb.Fetch(ctx, "/www/index.html"); err != nil || !bytes.Equal(got, page) {
		t.Fatalf("pre-boot file after space was freed: %d bytes, %v", len(got), err)
	}
	bc, err := loc.Node().SpawnContainer(ctx, "big", sdk.Name("bigc"), sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatalf("spawn of the new image after space was freed: %v", err)
	}
	if out, code, err := bc.Run(ctx, "wc", "-c", "/big"); err != nil || code != 0 || !strings.HasPrefix(strings.TrimSpace(string(out)), "4194304") {
		t.Fatalf("the new image's file after space was freed: %q %d %v", out, code, err)
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

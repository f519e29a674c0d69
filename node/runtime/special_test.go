package runtime

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// specialsLayer ships a character device (the node's /dev/kmsg: 1:11), a
// FIFO and a regular file.
func specialsLayer() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	for _, h := range []*tar.Header{
		{Name: "sp/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "sp/kmsg", Typeflag: tar.TypeChar, Mode: 0o600, Devmajor: 1, Devminor: 11},
		{Name: "sp/fifo", Typeflag: tar.TypeFifo, Mode: 0o600},
	} {
		h.ModTime = mt
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// specialOps checks that fetch and put refuse the image's device and FIFO
// while stat and list show their real types.
func specialOps(t *testing.T, c *Container) {
	t.Helper()
	ctx := tctx(t)
	for _, p := range []string{"/sp/kmsg", "/sp/fifo"} {
		rc, _, err := c.Fetch(ctx, p)
		if rc != nil {
			rc.Close()
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "only regular files") {
			t.Fatalf("fetch %s: %v, want ErrInvalid", p, err)
		}
		if err := c.Put(ctx, p, 0o644, strings.NewReader("x")); !errors.Is(err, ErrInvalid) {
			t.Fatalf("put over %s: %v, want ErrInvalid", p, err)
		}
	}
	fi, err := c.Stat(ctx, "/sp/kmsg")
	if err != nil || fi.Mode&os.ModeCharDevice == 0 {
		t.Fatalf("stat kmsg: %v %v", fi.Mode, err)
	}
	list, err := c.List(ctx, "/sp")
	if err != nil || len(list) != 2 || list[0].Mode&os.ModeNamedPipe == 0 || list[1].Mode&os.ModeCharDevice == 0 {
		t.Fatalf("list /sp: %+v %v", list, err)
	}
	// A symlink to the device is refused the same way.
	if err := c.Put(ctx, "/sp/link-target", 0o644, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	rc, _, err := c.Fetch(ctx, "/sp/link-target")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := c.Remove(ctx, "/sp/link-target", false); err != nil {
		t.Fatal(err)
	}
}

func TestSpecialFilesAreNeverOpened(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	if err := writeImage(ctx, r, "specials", busyboxLayer(), specialsLayer()); err != nil {
		t.Fatal(err)
	}
	stopped := create(t, r, Spec{ID: "special-stopped", Image: "specials", Asleep: true})
	specialOps(t, stopped)
	running := create(t, r, Spec{ID: "special-running", Image: "specials", Asleep: true})
	if err := running.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	specialOps(t, running)
	// A FIFO and a device the running container makes are refused too.
	if code, out, _ := run(t, running, ExecSpec{Args: []string{"sh", "-c", "ln -s /sp/fifo /tmp/l"}}); code != 0 {
		t.Fatalf("ln: %d %q", code, out)
	}
	if _, _, err := running.Fetch(ctx, "/tmp/l"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("fetch through a link to a FIFO: %v", err)
	}
	// The running container's /proc and /sys are the node's kernel: a
	// fetch never opens them (/proc/kmsg would read the node's log, and block).
	for _, p := range []string{"/proc/kmsg", "/proc/1/environ", "/sys/kernel/uevent_seqnum"} {
		if fi, err := running.Stat(ctx, p); err != nil || !fi.Mode.IsRegular() {
			t.Fatalf("stat %s: %v %v", p, fi.Mode, err)
		}
		if _, _, err := running.Fetch(ctx, p); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "filesystem") {
			t.Fatalf("fetch %s: %v, want ErrInvalid", p, err)
		}
	}
	// The stopped container is not wedged: it still starts and is destroyed
	// by the cleanup.
	if err := stopped.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestImageRecordsKeyedByAccountAndContent: record names differ by
// account and content, never by image name, and a record is never
// repointed to other content.
func TestImageRecordsKeyedByAccountAndContent(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	cfg := func(layer []byte) ImageSpec {
		d := digest.FromBytes(layer)
		raw, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
			RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{d}}})
		return ImageSpec{Name: "same", Config: raw, Layers: []Layer{{Digest: d.String(), Size: int64(len(layer))}}}
	}
	l1, l2 := makeTar([]tarEntry{{name: "a", typ: tar.TypeReg, mode: 0o644, data: []byte("1")}}), makeTar([]tarEntry{{name: "a", typ: tar.TypeReg, mode: 0o644, data: []byte("2")}})
	refA1, _ := ImageRef("A", cfg(l1))
	refA1again, _ := ImageRef("A", cfg(l1))
	refB1, _ := ImageRef("B", cfg(l1))
	refA2, _ := ImageRef("A", cfg(l2))
	if refA1 != refA1again || refA1 == refB1 || refA1 == refA2 || refB1 == refA2 {
		t.Fatalf("refs: A1 %s (again %s), B1 %s, A2 %s", refA1, refA1again, refB1, refA2)
	}
	for _, l := range [][]byte{l1, l2} {
		if err := r.WriteBlob(ctx, digest.FromBytes(l).String(), int64(len(l)), bytes.NewReader(l)); err != nil {
			t.Fatal(err)
		}
	}
	s1 := cfg(l1)
	s1.Name = refA1
	if err := r.EnsureImage(ctx, s1); err != nil {
		t.Fatal(err)
	}
	s2 := cfg(l2)
	s2.Name = refA1 // forced reuse of a record name for other content
	if err := r.EnsureImage(ctx, s2); !errors.Is(err, ErrExists) {
		t.Fatalf("repointing a record: %v, want ErrExists", err)
	}
}

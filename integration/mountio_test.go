package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// Byte bounds for what a node may send for a read that needs little: a
// ranged read moves about what it asks for; an abandoned stream at most
// the sender's window (16 × 128 KiB) and what was on the way.
const (
	rangedMax    = 1 << 20
	abandonedMax = 8 << 20
)

// TestFetchRange reads parts of a 100 MB file through the SDK: a range
// moves only itself, and closing a reader early stops the node.
func TestFetchRange(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 3*time.Minute)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Destroy(context.Background())
	const size = 100 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := ctr.Put(ctx, "/tmp/r", data); err != nil {
		t.Fatal(err)
	}
	node := env.Loc.Node
	sent := func(what string, max int64, f func()) {
		t.Helper()
		before := node.FetchSent()
		f()
		// The node counts a fetch when its copy ends, which an abort
		// makes prompt; wait for the count to settle (bounded).
		var n int64
		testenv.Eventually(t, 30*time.Second, what+": node done sending", func() bool {
			n = node.FetchSent() - before
			time.Sleep(200 * time.Millisecond)
			return node.FetchSent()-before == n && n > 0
		})
		t.Logf("%s: the node sent %d bytes", what, n)
		if n > max {
			t.Fatalf("%s: the node sent %d bytes, want at most %d", what, n, max)
		}
	}

	sent("the last 100 bytes", rangedMax, func() {
		rc, fi, err := ctr.FetchRange(ctx, "/tmp/r", size-100, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if fi.Size != size {
			t.Fatalf("FileInfo size %d, want the whole file's %d", fi.Size, size)
		}
		got, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, data[size-100:]) {
			t.Fatalf("tail: %d bytes, %v", len(got), err)
		}
	})
	sent("1000 bytes in the middle", rangedMax, func() {
		rc, _, err := ctr.FetchRange(ctx, "/tmp/r", 50<<20, 1000)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, data[50<<20:50<<20+1000]) {
			t.Fatalf("middle: %d bytes, %v", len(got), err)
		}
	})
	sent("a reader closed after 10 bytes", abandonedMax, func() {
		rc, _, err := ctr.FetchReader(ctx, "/tmp/r")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(rc, buf); err != nil || !bytes.Equal(buf, data[:10]) {
			t.Fatalf("first bytes: %v", err)
		}
		rc.Close()
		if _, err := rc.Read(buf); err == nil {
			t.Fatal("read after close succeeded")
		}
	})
	// past the end: nothing; negative: refused
	if rc, _, err := ctr.FetchRange(ctx, "/tmp/r", size+5, 0); err != nil {
		t.Fatal(err)
	} else if got, err := io.ReadAll(rc); err != nil || len(got) != 0 {
		t.Fatalf("past the end: %d bytes, %v", len(got), err)
	}
	if _, _, err := ctr.FetchRange(ctx, "/tmp/r", -1, 0); err == nil {
		t.Fatal("a negative offset was accepted")
	}
	// a put the node refuses stops the client sending; the reply says why
	if err := ctr.Put(ctx, "/tmp/r/under-a-file", data[:20<<20]); !errors.Is(err, sdk.ErrNotDir) {
		t.Fatalf("put under a file: %v, want ErrNotDir", err)
	}
	// the whole file still streams in one piece, and the session is fine
	got, err := ctr.Fetch(ctx, "/tmp/r")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole fetch after the others: %d bytes, %v", len(got), err)
	}
}

// TestFSMountIO drives the mount: reads at an offset and early closes move
// little; uploads and imports do not hold up stat and ls; a pre-boot file
// can be written after start.
func TestFSMountIO(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := mountAt(t, loc)

	t.Run("Busy", func(t *testing.T) {
		tar := filepath.Join(t.TempDir(), "img.tar")
		if err := ociarchive.BuildBusybox("/bin/busybox", tar, "imported:v2"); err != nil {
			t.Fatal(err)
		}
		runScript(t, 4*time.Minute, "mount_busy.sh", mnt, tar)
	})

	t.Run("Ranged", func(t *testing.T) {
		runScript(t, 2*time.Minute, "ranged_read.sh", mnt, "setup")
		defer runScript(t, time.Minute, "ranged_read.sh", mnt, "cleanup")
		node := env.Loc.Node
		for _, c := range []struct {
			phase string
			max   int64
		}{
			{"tail", rangedMax},
			{"head", abandonedMax},
			{"cat", 100 << 20},           // one stream: a restart would send more
			{"dd", 3<<20 + abandonedMax}, // from the offset, then abandoned
		} {
			before := node.FetchSent()
			runScript(t, 2*time.Minute, "ranged_read.sh", mnt, c.phase)
			var n int64
			testenv.Eventually(t, 30*time.Second, c.phase+": node done sending", func() bool {
				n = node.FetchSent() - before
				time.Sleep(200 * time.Millisecond)
				return node.FetchSent()-before == n && n > 0
			})
			t.Logf("%s: the node sent %d bytes", c.phase, n)
			if n > c.max {
				t.Fatalf("%s: the node sent %d bytes, want at most %d", c.phase, n, c.max)
			}
		}
	})
}

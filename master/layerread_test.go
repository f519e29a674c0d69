package master

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tffs/tffs/protocol"
)

var testLimits = readLimits{maxBytes: 1 << 30, maxEntries: 10000}

func TestBuildTreeLimits(t *testing.T) {
	dir := t.TempDir()
	var ents []tarEnt
	for i := range 50 {
		ents = append(ents, tarEnt{name: fmt.Sprintf("f%d", i), flag: tar.TypeReg})
	}
	writeLayer(t, dir, "many", true, ents...)
	writeLayer(t, dir, "big", true, tarEnt{name: "big", body: strings.Repeat("x", 1<<20), flag: tar.TypeReg})
	lp := func(d string) string { return filepath.Join(dir, d) }

	if _, err := buildTree(lp, []protocol.Layer{{Digest: "many"}}, readLimits{maxBytes: 1 << 30, maxEntries: 49}); !errors.Is(err, protocol.ErrLimit) {
		t.Fatalf("50 entries with a limit of 49: %v", err)
	}
	// The count is over the whole image, not per layer.
	if _, err := buildTree(lp, []protocol.Layer{{Digest: "many"}, {Digest: "many"}}, readLimits{maxBytes: 1 << 30, maxEntries: 60}); !errors.Is(err, protocol.ErrLimit) {
		t.Fatalf("2×50 entries with a limit of 60: %v", err)
	}
	if _, err := buildTree(lp, []protocol.Layer{{Digest: "many"}}, readLimits{maxBytes: 1 << 30, maxEntries: 50}); err != nil {
		t.Fatalf("50 entries with a limit of 50: %v", err)
	}
	if _, err := buildTree(lp, []protocol.Layer{{Digest: "big"}}, readLimits{maxBytes: 512 << 10, maxEntries: 100}); !errors.Is(err, protocol.ErrLimit) {
		t.Fatalf("1 MiB layer with a 512 KiB limit: %v", err)
	}
	if _, err := buildTree(lp, []protocol.Layer{{Digest: "big"}}, readLimits{maxBytes: 2 << 20, maxEntries: 100}); err != nil {
		t.Fatalf("1 MiB layer with a 2 MiB limit: %v", err)
	}
}

// TestTreeCacheBuildsDoNotBlockOtherImages holds one image's build until
// another image's tree has been built and read: no global lock.
func TestTreeCacheBuildsDoNotBlockOtherImages(t *testing.T) {
	var c treeCache
	slow := protocol.Image{ConfigDigest: "sha256:a", Layers: []protocol.Layer{{Digest: "sha256:1"}}}
	fast := protocol.Image{ConfigDigest: "sha256:a", Layers: []protocol.Layer{{Digest: "sha256:2"}}}
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.get(slow, 1000, func() (*imageTree, error) {
			close(started)
			<-release
			return nil, fmt.Errorf("too many: %w", protocol.ErrLimit)
		})
		done <- err
	}()
	<-started
	want := &imageTree{}
	got, err := c.get(fast, 1000, func() (*imageTree, error) { return want, nil })
	if err != nil || got != want {
		t.Fatalf("other image while one builds: %v %v", got, err)
	}
	// Same config, other layers: a different tree (keyed by content).
	if got, _ := c.get(fast, 1000, func() (*imageTree, error) { t.Fatal("rebuilt"); return nil, nil }); got != want {
		t.Fatal("cached tree not returned")
	}
	close(release)
	if err := <-done; !errors.Is(err, protocol.ErrLimit) {
		t.Fatalf("slow build: %v", err)
	}
	// The limit error is kept: no rebuild on every call.
	if _, err := c.get(slow, 1000, func() (*imageTree, error) { t.Fatal("rebuilt a failed tree"); return nil, nil }); !errors.Is(err, protocol.ErrLimit) {
		t.Fatalf("cached failure: %v", err)
	}
}

// TestImageDiffIDsChecked refuses an image whose config's diff_ids do not
// describe its layers (a reused config with a foreign layer).
func TestImageDiffIDsChecked(t *testing.T) {
	m := newTestMaster(t, t.TempDir())
	defer func() { m.srv.Close(); m.store.close() }()
	store := func(name string, gz bool, ents ...tarEnt) (digest, diffID string) {
		p := writeLayer(t, t.TempDir(), name, gz, ents...)
		b, _ := os.ReadFile(p)
		d := sha(b)
		if err := os.WriteFile(m.layerPath(d), b, 0o600); err != nil {
			t.Fatal(err)
		}
		rc, err := openLayer(p, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		h := sha256.New()
		buf := make([]byte, 1<<16)
		for {
			n, err := rc.Read(buf)
			h.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return d, "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	good, goodID := store("good", true, tarEnt{name: "etc/passwd", body: "root", flag: tar.TypeReg})
	evil, _ := store("evil", false, tarEnt{name: "etc/passwd", body: "evil", flag: tar.TypeReg})
	cfg, _ := json.Marshal(map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": []string{goodID}}})
	img := func(layer string) protocol.Image {
		return protocol.Image{Name: "x", Config: cfg, ConfigDigest: sha(cfg), Layers: []protocol.Layer{{Digest: layer, DiffID: goodID}}}
	}
	var saved []protocol.Image
	save := func(i protocol.Image) error { saved = append(saved, i); return nil }
	if err := m.checkImage(img(evil), save); !errors.Is(err, protocol.ErrInvalid) || len(saved) != 0 {
		t.Fatalf("foreign layer under a reused config: %v, saved %d", err, len(saved))
	}
	if err := m.checkImage(img(good), save); err != nil || len(saved) != 1 || saved[0].Layers[0].DiffID != goodID {
		t.Fatalf("matching layer: %v %+v", err, saved)
	}
	// The diff_id the master computed is kept beside the layer.
	if b, err := os.ReadFile(m.diffIDPath(good)); err != nil || string(b) != goodID {
		t.Fatalf("diff_id kept: %q %v", b, err)
	}
	// A client-supplied DiffID is never trusted.
	bad := img(evil)
	bad.Layers[0].DiffID = goodID
	if err := m.checkImage(bad, save); !errors.Is(err, protocol.ErrInvalid) {
		t.Fatalf("lying DiffID: %v", err)
	}
	// Wrong number of diff_ids.
	two := img(good)
	two.Layers = append(two.Layers, two.Layers[0])
	if err := m.checkImage(two, save); !errors.Is(err, protocol.ErrInvalid) {
		t.Fatalf("2 layers, 1 diff_id: %v", err)
	}
	// A layer over the size limit is refused with ErrLimit.
	m.cfg.LayerMaxBytes = 100
	os.Remove(m.diffIDPath(good))
	if err := m.checkImage(img(good), save); !errors.Is(err, protocol.ErrLimit) {
		t.Fatalf("layer over the size limit: %v", err)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// TestTreeCacheBudget evicts the oldest trees past the file budget.
func TestTreeCacheBudget(t *testing.T) {
	var c treeCache
	tree := func(n int) *imageTree {
		t := &imageTree{files: map[string]*treeEntry{}}
		for i := range n {
			t.files[fmt.Sprint(i)] = &treeEntry{}
		}
		return t
	}
	img := func(d string) protocol.Image { return protocol.Image{ConfigDigest: d} }
	builds := 0
	get := func(d string, n int) {
		c.get(img(d), 100, func() (*imageTree, error) { builds++; return tree(n), nil })
	}
	get("a", 60)
	get("b", 60) // a is evicted: 120 > 100
	get("b", 60)
	get("a", 60)
	if builds != 3 || c.entries != 60 || len(c.order) != 1 {
		t.Fatalf("builds %d, cached files %d, trees %d", builds, c.entries, len(c.order))
	}
}

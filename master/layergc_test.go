package master

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tffs/tffs/protocol"
)

// At start the master removes the layers no image references and the
// partial uploads a previous run left, and keeps the referenced ones.
func TestStartCollectsUnreferencedLayers(t *testing.T) {
	dir := t.TempDir()
	m := newTestMaster(t, dir)
	kept := "sha256:" + strings.Repeat("a", 64)
	orphan := "sha256:" + strings.Repeat("b", 64)
	for _, d := range []string{kept, orphan} {
		if err := os.WriteFile(m.layerPath(d), []byte("layer "+d), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	partial := filepath.Join(dir, "layers", "upload-123")
	os.WriteFile(partial, []byte("half"), 0o600)
	img := protocol.Image{Name: "x", Layers: []protocol.Layer{{Digest: kept}}}
	if err := m.store.putImage("alice", img); err != nil {
		t.Fatal(err)
	}
	if got := m.layerBytes("alice", "", nil); got != int64(len("layer "+kept)) {
		t.Fatalf("alice holds %d bytes", got)
	}
	m.srv.Close()
	m.store.close()

	m = newTestMaster(t, dir)
	defer func() { m.srv.Close(); m.store.close() }()
	if _, err := os.Stat(m.layerPath(kept)); err != nil {
		t.Fatalf("referenced layer removed: %v", err)
	}
	if _, err := os.Stat(m.layerPath(orphan)); !os.IsNotExist(err) {
		t.Fatalf("unreferenced layer kept: %v", err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatalf("partial upload kept: %v", err)
	}
}

func TestLimitsDefaultsAndOff(t *testing.T) {
	var l Limits
	l.setDefaults()
	if l.Containers != DefaultMaxContainers || l.Processes != DefaultMaxProcesses || l.LayerBytes != DefaultMaxLayerBytes || l.Uploads != DefaultMaxUploads {
		t.Fatalf("defaults: %+v", l)
	}
	if over(1000, -1) || !over(3, 2) || over(2, 2) {
		t.Fatal("over")
	}
}

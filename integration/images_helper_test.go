package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/sdk"
)

// testLayer is a layer blob for a test image.
type testLayer struct {
	blob      []byte
	diffID    string
	mediaType string
}

// tarEntry is one entry of a test layer: a regular file when hdr.Typeflag
// is tar.TypeReg (body is its content).
type tarEntry struct {
	hdr  tar.Header
	body string
}

func regular(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body: body}
}

// makeLayer builds a layer from entries, gzipped when gz.
func makeLayer(t testing.TB, gz bool, entries ...tarEntry) testLayer {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := e.hdr
		h.ModTime = time.Unix(1700000000, 0)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l := testLayer{blob: raw.Bytes(), diffID: sha256Of(raw.Bytes()), mediaType: ocispec.MediaTypeImageLayer}
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(raw.Bytes())
		zw.Close()
		l.blob, l.mediaType = z.Bytes(), ocispec.MediaTypeImageLayerGzip
	}
	return l
}

func sha256Of(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// busyboxImage loads the test busybox image (the one every location has).
func busyboxImage(t testing.TB) *sdk.Image {
	t.Helper()
	p := filepath.Join(t.TempDir(), "busybox.tar")
	if err := ociarchive.BuildBusybox("/bin/busybox", p, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	imgs, err := sdk.LoadImages(p)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("load busybox: %d images, %v", len(imgs), err)
	}
	return imgs[0]
}

// busyboxLayers returns the busybox image's layers as test layers.
func busyboxLayers(t testing.TB, bb *sdk.Image) []testLayer {
	t.Helper()
	var out []testLayer
	for _, l := range bb.Layers {
		rc, err := l.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testLayer{blob: b, diffID: l.DiffID, mediaType: l.MediaType})
	}
	return out
}

// derivedImage is busybox with more layers on top; its config is busybox's
// with the diff_ids extended, or cfg as given when not nil (to forge one).
func derivedImage(t testing.TB, bb *sdk.Image, cfg []byte, extra ...testLayer) *sdk.Image {
	t.Helper()
	layers := append(busyboxLayers(t, bb), extra...)
	if cfg == nil {
		var c map[string]any
		if err := json.Unmarshal(bb.Config, &c); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range layers {
			ids = append(ids, l.diffID)
		}
		c["rootfs"] = map[string]any{"type": "layers", "diff_ids": ids}
		delete(c, "history")
		cfg, _ = json.Marshal(c)
	}
	return ociImage(t, cfg, layers)
}

// ociImage writes an OCI layout with one image (config and layers as
// given) and loads it.
func ociImage(t testing.TB, cfg []byte, layers []testLayer) *sdk.Image {
	t.Helper()
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(b []byte) string {
		d := sha256Of(b)
		if err := os.WriteFile(filepath.Join(blobs, d[len("sha256:"):]), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     ocispec.MediaTypeImageManifest,
		"config":        map[string]any{"mediaType": ocispec.MediaTypeImageConfig, "digest": put(cfg), "size": len(cfg)},
	}
	var ls []any
	for _, l := range layers {
		ls = append(ls, map[string]any{"mediaType": l.mediaType, "digest": put(l.blob), "size": len(l.blob)})
	}
	m["layers"] = ls
	mb, _ := json.Marshal(m)
	idx, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": put(mb), "size": len(mb),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": "test"}}},
	})
	os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	imgs, err := sdk.LoadImages(dir)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("load test image: %d images, %v", len(imgs), err)
	}
	return imgs[0]
}

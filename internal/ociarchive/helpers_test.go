package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// entry is one file of a test archive or layout.
type entry struct {
	name string
	body []byte
	typ  byte // tar.TypeReg when 0
	link string
}

// writeTar writes entries, in order, as a tar (gzip-compressed if gz).
func writeTar(t testing.TB, p string, gz bool, entries []entry) {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarBytes returns a tar holding entries.
func tarBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.tar")
	writeTar(t, p, false, entries)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// desc is a descriptor as a JSON map, so tests need not import go-digest.
func desc(mt string, b []byte, annotations map[string]string, platform map[string]string) map[string]any {
	d := map[string]any{"mediaType": mt, "digest": digestOf(b), "size": len(b)}
	if annotations != nil {
		d["annotations"] = annotations
	}
	if platform != nil {
		d["platform"] = platform
	}
	return d
}

// layout is a test image in OCI layout form: files by path.
type layout struct {
	files       map[string][]byte
	name        string
	configDig   string
	layerBlob   []byte
	layerDiffID string
}

func (l *layout) blob(b []byte) { l.files[blobPath(digestOf(b))] = b }

// newLayout builds an OCI layout with one image whose single layer is
// gzip-compressed. With nested, index.json points at a two-platform index.
func newLayout(t testing.TB, nested bool) *layout {
	t.Helper()
	l := &layout{files: map[string][]byte{}, name: "proto/hello:v1"}
	raw := tarBytes(t, []entry{{name: "hello.txt", body: []byte("hello\n")}})
	l.layerBlob = gzipBytes(t, raw)
	l.layerDiffID = digestOf(raw)
	l.blob(l.layerBlob)
	cfg := mustJSON(t, map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{l.layerDiffID}},
	})
	l.configDig = digestOf(cfg)
	l.blob(cfg)
	man := mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", cfg, nil, nil),
		"layers":        []any{desc("application/vnd.oci.image.layer.v1.tar+gzip", l.layerBlob, nil, nil)},
	})
	l.blob(man)
	top := desc("application/vnd.oci.image.manifest.v1+json", man, map[string]string{"org.opencontainers.image.ref.name": l.name}, nil)
	if nested {
		// The arm64 entry points at a blob that is not there: picking
		// amd64 must not touch it.
		other := desc("application/vnd.oci.image.manifest.v1+json", []byte("absent"), nil, map[string]string{"os": "linux", "architecture": "arm64"})
		amd := desc("application/vnd.oci.image.manifest.v1+json", man, nil, map[string]string{"os": "linux", "architecture": "amd64"})
		att := desc("application/vnd.oci.image.manifest.v1+json", []byte("att"), map[string]string{"vnd.docker.reference.type": "attestation-manifest"}, map[string]string{"os": "unknown", "architecture": "unknown"})
		idx := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{other, amd, att}})
		l.blob(idx)
		top = desc("application/vnd.oci.image.index.v1+json", idx, map[string]string{
			"io.containerd.image.name": "docker.io/" + l.name, "org.opencontainers.image.ref.name": "v1"}, nil)
	}
	l.files["oci-layout"] = []byte(`{"imageLayoutVersion":"1.0.0"}`)
	l.files["index.json"] = mustJSON(t, map[string]any{"schemaVersion": 2, "manifests": []any{top}})
	return l
}

// entries lists the layout's files in a stable order.
func (l *layout) entries() []entry {
	var names []string
	for n := range l.files {
		names = append(names, n)
	}
	sort.Strings(names)
	var es []entry
	for _, n := range names {
		es = append(es, entry{name: n, body: l.files[n]})
	}
	return es
}

// writeDir writes the layout into dir.
func (l *layout) writeDir(t testing.TB, dir string) {
	t.Helper()
	for n, b := range l.files {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// dirEntries reads a directory tree back as tar entries ("./"-prefixed,
// as `tar -C dir -cf x .` writes them).
func dirEntries(t testing.TB, dir string) []entry {
	t.Helper()
	var es []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		es = append(es, entry{name: "./" + filepath.ToSlash(rel), body: b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// readLayer drains a layer, returning its bytes and the final error.
func readLayer(t testing.TB, l Layer) ([]byte, error) {
	t.Helper()
	rc, err := l.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// memSource is an in-memory source for fuzzing.
type memSource map[string][]byte

func (m memSource) open(name string) (io.ReadCloser, int64, error) {
	c, err := cleanName(name)
	if err != nil {
		return nil, 0, err
	}
	b, ok := m[c]
	if !ok {
		return nil, 0, missing(name, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func (m memSource) stat(name string) (int64, error) {
	_, n, err := m.open(name)
	return n, err
}

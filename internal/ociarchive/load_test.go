package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOCI(t *testing.T) {
	tests := []struct {
		name   string
		nested bool
		make   func(t *testing.T, l *layout) string
	}{
		{"dir", false, func(t *testing.T, l *layout) string {
			d := t.TempDir()
			l.writeDir(t, d)
			return d
		}},
		{"oci-archive", false, func(t *testing.T, l *layout) string {
			d := t.TempDir()
			l.writeDir(t, d)
			p := filepath.Join(t.TempDir(), "image.oci") // name says nothing
			writeTar(t, p, false, dirEntries(t, d))
			return p
		}},
		{"oci-archive gzip", false, func(t *testing.T, l *layout) string {
			p := filepath.Join(t.TempDir(), "image.tar")
			writeTar(t, p, true, l.entries())
			return p
		}},
		{"nested index dir", true, func(t *testing.T, l *layout) string {
			d := t.TempDir()
			l.writeDir(t, d)
			return d
		}},
		{"nested index archive", true, func(t *testing.T, l *layout) string {
			p := filepath.Join(t.TempDir(), "x")
			writeTar(t, p, false, l.entries())
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLayout(t, tt.nested)
			imgs, err := Load(tt.make(t, l))
			if err != nil {
				t.Fatal(err)
			}
			if len(imgs) != 1 {
				t.Fatalf("got %d images, want 1", len(imgs))
			}
			img := imgs[0]
			if img.Name != l.name {
				t.Errorf("Name = %q, want %q", img.Name, l.name)
			}
			if img.ConfigDigest != l.configDig || digestOf(img.Config) != l.configDig {
				t.Errorf("ConfigDigest = %s, want %s", img.ConfigDigest, l.configDig)
			}
			if len(img.Layers) != 1 {
				t.Fatalf("got %d layers", len(img.Layers))
			}
			ly := img.Layers[0]
			if ly.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" || ly.DiffID != l.layerDiffID ||
				ly.Digest != digestOf(l.layerBlob) || ly.Size != int64(len(l.layerBlob)) {
				t.Errorf("layer = %+v", ly)
			}
			b, err := readLayer(t, ly)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, l.layerBlob) {
				t.Error("layer stream differs from the blob")
			}
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(zr)
			if digestOf(raw) != ly.DiffID {
				t.Error("uncompressed layer does not match DiffID")
			}
		})
	}
}

// TestLoadDocker covers docker-save layouts other than BuildBusybox's:
// docker ≥25 (blobs/sha256 plus index.json, manifest.json preferred), a
// gzip layer under a legacy name, and a legacy duplicate layer stored as a
// symlink.
func TestLoadDocker(t *testing.T) {
	l := newLayout(t, false)
	raw := tarBytes(t, []entry{{name: "hello.txt", body: []byte("hello\n")}})
	cfgName := strings.TrimPrefix(l.configDig, "sha256:")
	cfg := l.files[blobPath(l.configDig)]
	man := func(cfgPath string, layers ...string) []byte {
		return mustJSON(t, []any{map[string]any{"Config": cfgPath, "RepoTags": []string{"docker.io/library/hello:1"}, "Layers": layers}})
	}
	cfg2 := mustJSON(t, map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digestOf(raw), digestOf(raw)}}})

	tests := []struct {
		name    string
		entries []entry
		digests []string
		mt      string
		want    string // image name; "hello:1" when empty
	}{
		{"docker 25 blobs", append(l.entries(), entry{name: "manifest.json", body: man(blobPath(l.configDig), blobPath(digestOf(l.layerBlob)))}),
			[]string{digestOf(l.layerBlob)}, "application/vnd.oci.image.layer.v1.tar+gzip", ""},
		{"containerd export without RepoTags", append(l.entries(), entry{name: "manifest.json", body: mustJSON(t, []any{map[string]any{
			"Config": blobPath(l.configDig), "RepoTags": nil, "Layers": []string{blobPath(digestOf(l.layerBlob))}}})}),
			[]string{digestOf(l.layerBlob)}, "application/vnd.oci.image.layer.v1.tar+gzip", l.name},
		{"legacy gzip layer", []entry{
			{name: "abc/layer.tar", body: l.layerBlob},
			{name: cfgName + ".json", body: cfg},
			{name: "manifest.json", body: man(cfgName+".json", "abc/layer.tar")},
		}, []string{digestOf(l.layerBlob)}, "application/vnd.oci.image.layer.v1.tar+gzip", ""},
		{"legacy symlinked layer", []entry{
			{name: "a/", typ: tar.TypeDir},
			{name: "a/layer.tar", body: raw},
			{name: "b/layer.tar", typ: tar.TypeSymlink, link: "../a/layer.tar"},
			{name: "c.json", body: cfg2},
			{name: "manifest.json", body: man("c.json", "a/layer.tar", "b/layer.tar")},
		}, []string{digestOf(raw), digestOf(raw)}, "application/vnd.oci.image.layer.v1.tar", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "save.tar")
			writeTar(t, p, false, tt.entries)
			imgs, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = "hello:1"
			}
			if len(imgs) != 1 || imgs[0].Name != want {
				t.Fatalf("images = %+v", imgs)
			}
			if len(imgs[0].Layers) != len(tt.digests) {
				t.Fatalf("got %d layers", len(imgs[0].Layers))
			}
			for i, ly := range imgs[0].Layers {
				if ly.Digest != tt.digests[i] || ly.MediaType != tt.mt {
					t.Errorf("layer %d = %+v", i, ly)
				}
				if _, err := readLayer(t, ly); err != nil {
					t.Errorf("layer %d: %v", i, err)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	l := newLayout(t, false)
	cfg := l.files[blobPath(l.configDig)]
	cfgHex := strings.TrimPrefix(l.configDig, "sha256:")
	raw := tarBytes(t, []entry{{name: "f", body: []byte("x")}})
	rawCfg := mustJSON(t, map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digestOf(raw)}}})
	rawCfgName := strings.TrimPrefix(digestOf(rawCfg), "sha256:") + ".json"
	docker := func(cfgPath string, layers ...string) entry {
		return entry{name: "manifest.json", body: mustJSON(t, []any{map[string]any{"Config": cfgPath, "RepoTags": []string{"x:1"}, "Layers": layers}})}
	}
	without := func(drop string) []entry {
		var es []entry
		for _, e := range l.entries() {
			if e.name != drop {
				es = append(es, e)
			}
		}
		return es
	}
	random := make([]byte, 4096)
	rand.Read(random)

	tests := []struct {
		name    string
		file    []byte  // written as is, if set
		entries []entry // else written as a tar
		want    error
	}{
		{"random bytes", random, nil, ErrNotImage},
		{"empty file", []byte{}, nil, ErrNotImage},
		{"gzip of junk", gzipBytes(t, random), nil, ErrNotImage},
		{"tar without manifest", nil, []entry{{name: "hello.txt", body: []byte("hi")}}, ErrNoManifest},
		{"docker bad JSON", nil, []entry{{name: "manifest.json", body: []byte("{not json")}}, ErrInvalid},
		{"docker empty list", nil, []entry{{name: "manifest.json", body: []byte("[]")}}, ErrInvalid},
		{"docker missing config", nil, []entry{docker("nope.json")}, ErrMissingBlob},
		{"docker missing layer", nil, []entry{{name: rawCfgName, body: rawCfg}, docker(rawCfgName, "l/layer.tar")}, ErrMissingBlob},
		{"docker tampered config", nil, []entry{
			{name: cfgHex + ".json", body: bytes.Replace(cfg, []byte("amd64"), []byte("arm64"), 1)},
			{name: "l/layer.tar", body: raw}, docker(cfgHex+".json", "l/layer.tar"),
		}, ErrDigestMismatch},
		{"docker layer count mismatch", nil, []entry{{name: rawCfgName, body: rawCfg}, docker(rawCfgName)}, ErrInvalid},
		{"docker config path escapes", nil, []entry{docker("../etc/passwd")}, ErrInvalid},
		{"dotdot entry", nil, []entry{{name: "../evil", body: []byte("x")}, docker("c.json")}, ErrInvalid},
		{"dotdot inside entry", nil, []entry{{name: "a/../../evil", body: []byte("x")}}, ErrInvalid},
		{"symlink leaves archive", nil, []entry{
			{name: rawCfgName, body: rawCfg},
			{name: "l/layer.tar", typ: tar.TypeSymlink, link: "../../etc/passwd"}, docker(rawCfgName, "l/layer.tar"),
		}, ErrInvalid},
		{"oci bad index JSON", nil, []entry{{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[`)}}, ErrInvalid},
		{"oci missing manifest", nil, []entry{{name: "index.json", body: mustJSON(t, map[string]any{"schemaVersion": 2, "manifests": []any{
			desc("application/vnd.oci.image.manifest.v1+json", []byte("gone"), nil, nil)}})}}, ErrMissingBlob},
		{"oci missing layer", nil, without(blobPath(digestOf(l.layerBlob))), ErrMissingBlob},
		{"oci tampered config", nil, append(without(blobPath(l.configDig)),
			entry{name: blobPath(l.configDig), body: bytes.Replace(cfg, []byte("amd64"), []byte("arm64"), 1)}), ErrDigestMismatch},
		{"oci truncated layer", nil, append(without(blobPath(digestOf(l.layerBlob))),
			entry{name: blobPath(digestOf(l.layerBlob)), body: l.layerBlob[:10]}), ErrDigestMismatch},
		{"oci no images", nil, []entry{{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[]}`)}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "in")
			if tt.file != nil {
				if err := os.WriteFile(p, tt.file, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				writeTar(t, p, false, tt.entries)
			}
			imgs, err := Load(p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load = %v, %v; want %v", imgs, err, tt.want)
			}
			t.Log(err)
		})
	}
	t.Run("no such path", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty dir", func(t *testing.T) {
		if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoManifest) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestLayerTampered checks that a layer whose content changed (same size)
// loads but fails at the end of its stream.
func TestLayerTampered(t *testing.T) {
	raw := tarBytes(t, []entry{{name: "f", body: []byte("original")}})
	bad := tarBytes(t, []entry{{name: "f", body: []byte("tampered")}})
	cfg := mustJSON(t, map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digestOf(raw)}}})
	cfgName := strings.TrimPrefix(digestOf(cfg), "sha256:") + ".json"
	man := mustJSON(t, []any{map[string]any{"Config": cfgName, "Layers": []string{"l/layer.tar"}}})
	p := filepath.Join(t.TempDir(), "save.tar")
	writeTar(t, p, false, []entry{{name: "l/layer.tar", body: bad}, {name: cfgName, body: cfg}, {name: "manifest.json", body: man}})
	imgs, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if imgs[0].Name != "" {
		t.Errorf("Name = %q, want none", imgs[0].Name)
	}
	b, err := readLayer(t, imgs[0].Layers[0])
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("read = %v, want digest mismatch", err)
	}
	if len(b) != len(bad) {
		t.Errorf("read %d bytes before the error, want %d", len(b), len(bad))
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"", "", false},
		{"busybox", "busybox:latest", false},
		{"busybox:latest", "busybox:latest", false},
		{"docker.io/library/busybox:1.36", "busybox:1.36", false},
		{"docker.io/proto/busybox", "proto/busybox:latest", false},
		{"proto/busybox:latest", "proto/busybox:latest", false},
		{"localhost:5000/x", "localhost:5000/x:latest", false},
		{"x@sha256:abc", "x@sha256:abc", false},
		{"latest", "", false},
		{"1.36", "", false},
		{"has space", "", true},
		{":latest", "", true},
		{"x:", "", true},
		{strings.Repeat("a", 300), "", true},
	}
	for _, tt := range tests {
		got, err := normalizeName(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("normalizeName(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

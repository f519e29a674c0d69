package ociarchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// needBusybox returns the host's static busybox, skipping the test when it
// is missing — except in CI, where a missing prerequisite is a failure.
func needBusybox(t *testing.T) string {
	t.Helper()
	const p = "/bin/busybox"
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing (install busybox-static): %v", p, err)
		}
		t.Skipf("%s missing (install busybox-static)", p)
	}
	return p
}

func TestBuildBusybox(t *testing.T) {
	bb := needBusybox(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "busybox.tar")
	if err := BuildBusybox(bb, out, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	imgs, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 {
		t.Fatalf("got %d images", len(imgs))
	}
	img := imgs[0]
	if img.Name != "busybox:latest" {
		t.Errorf("Name = %q", img.Name)
	}
	if img.ConfigDigest != digestOf(img.Config) {
		t.Errorf("ConfigDigest %s does not match Config", img.ConfigDigest)
	}
	var cfg struct {
		Architecture, OS string
		Config           struct{ Env, Cmd []string }
		RootFS           struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(img.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" ||
		!slices.Equal(cfg.Config.Env, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}) || !slices.Equal(cfg.Config.Cmd, []string{"sh"}) {
		t.Errorf("config = %s", img.Config)
	}
	if len(img.Layers) != 1 {
		t.Fatalf("got %d layers", len(img.Layers))
	}
	ly := img.Layers[0]
	b, err := readLayer(t, ly)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(b) != ly.Digest || ly.Digest != ly.DiffID || !slices.Equal(cfg.RootFS.DiffIDs, []string{ly.DiffID}) {
		t.Errorf("layer digest %s, diff_id %s, config %v, stream %s", ly.Digest, ly.DiffID, cfg.RootFS.DiffIDs, digestOf(b))
	}
	if ly.MediaType != "application/vnd.oci.image.layer.v1.tar" || ly.Size != int64(len(b)) {
		t.Errorf("layer = %+v", ly)
	}

	want := map[string]func(*tar.Header) bool{
		"bin/busybox":    func(h *tar.Header) bool { return h.Typeflag == tar.TypeReg && h.Mode == 0o755 && h.Size > 0 },
		"bin/sh":         func(h *tar.Header) bool { return h.Typeflag == tar.TypeSymlink && h.Linkname == "busybox" },
		"etc/passwd":     func(h *tar.Header) bool { return h.Typeflag == tar.TypeReg },
		"etc/group":      func(h *tar.Header) bool { return h.Typeflag == tar.TypeReg },
		"tmp/":           func(h *tar.Header) bool { return h.Typeflag == tar.TypeDir && h.Mode == 0o1777 },
		"root/":          func(h *tar.Header) bool { return h.Typeflag == tar.TypeDir },
		"www/index.html": func(h *tar.Header) bool { return h.Typeflag == tar.TypeReg },
	}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(busyboxTime) {
			t.Errorf("%s: owner %d:%d mtime %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		if ok, listed := want[h.Name]; listed {
			if !ok(h) {
				t.Errorf("%s: unexpected header %+v", h.Name, h)
			}
			delete(want, h.Name)
		}
	}
	for n := range want {
		t.Errorf("layer lacks %s", n)
	}

	// Same input, same bytes.
	out2 := filepath.Join(dir, "again.tar")
	if err := BuildBusybox(bb, out2, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(out)
	b2, _ := os.ReadFile(out2)
	if !bytes.Equal(b1, b2) {
		t.Error("BuildBusybox is not deterministic")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".mkbusybox-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestBuildBusyboxErrors(t *testing.T) {
	bb := needBusybox(t)
	dir := t.TempDir()
	notELF := filepath.Join(dir, "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, busybox, out, image string
	}{
		{"bad name", bb, filepath.Join(dir, "a.tar"), "bad name"},
		{"empty name", bb, filepath.Join(dir, "a.tar"), ""},
		{"missing binary", filepath.Join(dir, "nope"), filepath.Join(dir, "a.tar"), "busybox:latest"},
		{"not ELF", notELF, filepath.Join(dir, "a.tar"), "busybox:latest"},
		{"missing out dir", bb, filepath.Join(dir, "no", "a.tar"), "busybox:latest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := BuildBusybox(tt.busybox, tt.out, tt.image); err == nil {
				t.Fatal("BuildBusybox succeeded")
			}
			if _, err := os.Stat(tt.out); err == nil {
				t.Error("output written despite the error")
			}
		})
	}
}

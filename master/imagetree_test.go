package master

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tffs/tffs/protocol"
)

type tarEnt struct {
	name, body, link string
	flag             byte
}

// writeLayer writes a layer tar (gzipped when gz) and returns its path.
func writeLayer(t *testing.T, dir, name string, gz bool, ents ...tarEnt) string {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.flag, Mode: 0o644, Linkname: e.link}
		if e.flag == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.flag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.flag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImageTreeMergesLayers(t *testing.T) {
	dir := t.TempDir()
	writeLayer(t, dir, "l1", false,
		tarEnt{name: "etc/", flag: tar.TypeDir},
		tarEnt{name: "etc/passwd", body: "root", flag: tar.TypeReg},
		tarEnt{name: "etc/gone", body: "x", flag: tar.TypeReg},
		tarEnt{name: "opt/old/a", body: "a", flag: tar.TypeReg}, // parents implied
		tarEnt{name: "usr/bin/sh", body: "ELF", flag: tar.TypeReg},
		tarEnt{name: "bin", link: "usr/bin", flag: tar.TypeSymlink},
		tarEnt{name: "../../escape", body: "no", flag: tar.TypeReg},
	)
	writeLayer(t, dir, "l2", true,
		tarEnt{name: "etc/.wh.gone", flag: tar.TypeReg},
		tarEnt{name: "opt/old/new", body: "n", flag: tar.TypeReg},
		tarEnt{name: "opt/old/.wh..wh..opq", flag: tar.TypeReg},
		tarEnt{name: "etc/passwd", body: "root:x:0", flag: tar.TypeReg},
		tarEnt{name: "etc/hard", link: "etc/passwd", flag: tar.TypeLink},
		tarEnt{name: "loop", link: "/loop", flag: tar.TypeSymlink},
	)
	lp := func(d string) string { return filepath.Join(dir, d) }
	tree, err := buildTree(lp, []protocol.Layer{{Digest: "l1"}, {Digest: "l2"}}, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	names := func(p string) string {
		fl, err := tree.list(p)
		if err != nil {
			return "error: " + err.Error()
		}
		var n []string
		for _, f := range fl {
			n = append(n, filepath.Base(f.Name))
		}
		return strings.Join(n, " ")
	}
	for p, want := range map[string]string{
		"/":        "bin etc loop opt usr",
		"/etc":     "hard passwd",
		"/opt/old": "new",
		"/bin":     "sh", // through the symlink
	} {
		if got := names(p); got != want {
			t.Errorf("list %s = %q, want %q", p, got, want)
		}
	}
	read := func(p string) (string, error) {
		rc, _, err := tree.open(lp, testLimits.maxBytes, p)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	for p, want := range map[string]string{"/etc/passwd": "root:x:0", "/etc/hard": "root:x:0", "/bin/sh": "ELF", "/opt/old/new": "n"} {
		if got, err := read(p); got != want || err != nil {
			t.Errorf("read %s = %q %v, want %q", p, got, err, want)
		}
	}
	for p, want := range map[string]error{
		"/etc/gone":     protocol.ErrNotFound,
		"/opt/old/a":    protocol.ErrNotFound,
		"/escape":       protocol.ErrNotFound,
		"/etc":          protocol.ErrIsDir,
		"/etc/passwd/x": protocol.ErrNotDir,
		"/loop":         protocol.ErrInvalid,
	} {
		if _, err := read(p); !errors.Is(err, want) {
			t.Errorf("read %s: %v, want %v", p, err, want)
		}
	}
	if _, err := tree.list("/etc/passwd"); !errors.Is(err, protocol.ErrNotDir) {
		t.Errorf("list a file: %v", err)
	}
}

func TestImageTreeRefusesABrokenLayer(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad"), []byte("this is not a tar archive at all, not even close"), 0o644)
	_, err := buildTree(func(d string) string { return filepath.Join(dir, d) }, []protocol.Layer{{Digest: "bad"}}, testLimits)
	if err == nil {
		t.Fatal("a broken layer was accepted")
	}
}

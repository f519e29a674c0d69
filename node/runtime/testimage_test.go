package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// applets are the busybox applets linked into the test image.
var applets = []string{"sh", "echo", "cat", "ls", "sleep", "true", "false", "env", "id", "pwd",
	"printf", "hostname", "tty", "ln", "test", "rm", "mkdir", "stty", "head", "wc"}

// tarEntry is one entry of a test layer.
type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	data     []byte
	linkname string
}

// makeTar builds an uncompressed layer tar.
func makeTar(entries []tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.linkname,
			Size: int64(len(e.data)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write(e.data)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// busyboxLayer is the base layer: /bin/busybox, applet links, /etc, /tmp.
func busyboxLayer(extra ...tarEntry) []byte {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		panic(err)
	}
	es := []tarEntry{
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/busybox", typ: tar.TypeReg, mode: 0o755, data: bb},
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{name: "etc/group", typ: tar.TypeReg, mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "root/", typ: tar.TypeDir, mode: 0o700},
	}
	for _, a := range applets {
		es = append(es, tarEntry{name: "bin/" + a, typ: tar.TypeSymlink, mode: 0o777, linkname: "busybox"})
	}
	return makeTar(append(es, extra...))
}

// writeImage writes the layers and installs the image name.
func writeImage(ctx context.Context, r *Runtime, name string, layers ...[]byte) error {
	var diffIDs []digest.Digest
	var ls []Layer
	for _, l := range layers {
		d := digest.FromBytes(l)
		if err := r.WriteBlob(ctx, d.String(), int64(len(l)), bytes.NewReader(l)); err != nil {
			return err
		}
		diffIDs = append(diffIDs, d)
		ls = append(ls, Layer{Digest: d.String(), DiffID: d.String(), MediaType: ocispec.MediaTypeImageLayer, Size: int64(len(l))})
	}
	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config: ocispec.ImageConfig{
			Env: []string{"PATH=/bin", "IMAGE_VAR=from-image"},
			Cmd: []string{"sh"},
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}
	raw, _ := json.Marshal(cfg)
	return r.EnsureImage(ctx, ImageSpec{Name: name, Config: raw, ConfigDigest: digest.FromBytes(raw).String(), Layers: ls})
}

// installBusybox installs the "busybox" test image.
func installBusybox(ctx context.Context, r *Runtime) error {
	return writeImage(ctx, r, "busybox", busyboxLayer())
}

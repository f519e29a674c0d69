package ociarchive

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Layer is one filesystem layer blob of an image.
type Layer struct {
	Digest    string // "sha256:<hex>" of the blob as stored (compressed or not)
	DiffID    string // "sha256:<hex>" of the uncompressed tar
	MediaType string // OCI layer media type (…layer.v1.tar, …tar+gzip, …tar+zstd)
	Size      int64  // blob size in bytes

	open func() (io.ReadCloser, error)
}

// Open streams the layer blob as stored. The blob is never loaded whole
// into memory; its size and digest are checked as it is read, and a
// mismatch is reported (wrapping ErrDigestMismatch) by the Read that would
// otherwise have returned io.EOF.
func (l Layer) Open() (io.ReadCloser, error) {
	if l.open == nil {
		return nil, fmt.Errorf("layer %s: %w: no source", l.Digest, ErrInvalid)
	}
	rc, err := l.open()
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return newVerifier(rc, l.Digest, l.Size), nil
}

// Image is one image found in a source.
type Image struct {
	// Name is the normalised reference from RepoTags, the
	// io.containerd.image.name annotation or a full
	// org.opencontainers.image.ref.name, e.g. "busybox:latest" or
	// "proto/busybox:latest"; "" if the source names none.
	Name         string
	Config       []byte // raw image config JSON
	ConfigDigest string // "sha256:<hex>" of Config
	Layers       []Layer
}

// verifier checks size and sha256 of a stream as it is read.
type verifier struct {
	rc     io.ReadCloser
	h      hash.Hash
	want   string
	size   int64 // expected size, -1 if unknown
	n      int64
	result error // sticky final result once EOF has been seen
}

func newVerifier(rc io.ReadCloser, want string, size int64) *verifier {
	return &verifier{rc: rc, h: sha256.New(), want: want, size: size}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.result != nil {
		return 0, v.result
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.result = fmt.Errorf("blob %s: %w: longer than %d bytes", v.want, ErrDigestMismatch, v.size)
		return n, v.result
	}
	if errors.Is(err, io.EOF) {
		v.result = io.EOF
		if v.size >= 0 && v.n != v.size {
			v.result = fmt.Errorf("blob %s: %w: %d bytes, want %d", v.want, ErrDigestMismatch, v.n, v.size)
		} else if got := "sha256:" + hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			v.result = fmt.Errorf("blob %s: %w: content is %s", v.want, ErrDigestMismatch, got)
		}
		return n, v.result
	}
	if err != nil {
		v.result = err
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

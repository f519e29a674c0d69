package master

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/pkg/archive/compression"

	"github.com/tffs/tffs/protocol"
)

// Default limits on what the master reads from a layer.
const (
	defaultLayerMaxBytes   = 64 << 30 // decompressed bytes of one layer
	defaultLayerMaxEntries = 200_000  // tar entries of one image's tree
)

// readLimits bound the master's reading of layers (to verify their
// diff_ids and to build the file trees shown before a container starts):
// a small compressed layer can expand to a huge tar or hold millions of
// empty files.
type readLimits struct {
	maxBytes   int64 // decompressed bytes of one layer
	maxEntries int   // tar entries of one image's tree, all layers together
}

func (m *Master) readLimits() readLimits {
	return readLimits{maxBytes: m.cfg.LayerMaxBytes, maxEntries: m.cfg.LayerMaxEntries}
}

// openLayer opens a stored layer decompressed (gzip, zstd or plain tar);
// reading past maxBytes fails with an error wrapping protocol.ErrLimit.
func openLayer(file string, maxBytes int64) (io.ReadCloser, error) {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("layer %s: %w", filepath.Base(file), protocol.ErrNotFound)
		}
		return nil, err
	}
	dr, err := compression.DecompressStream(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s is not a readable (compressed) tar: %w: %v", filepath.Base(file), protocol.ErrInvalid, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{&limitReader{r: dr, left: maxBytes, max: maxBytes}, closers{dr, f}}, nil
}

// limitReader fails with ErrLimit once more than max bytes are read.
type limitReader struct {
	r         io.Reader
	left, max int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.err()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, l.err()
	}
	return n, err
}

func (l *limitReader) err() error {
	return fmt.Errorf("layer decompresses to more than %d bytes (the master's layer size limit): %w", l.max, protocol.ErrLimit)
}

// diffIDPath is where a layer's diff_id (digest of its uncompressed tar) is
// kept once computed.
func (m *Master) diffIDPath(digest string) string {
	return filepath.Join(filepath.Dir(m.layerDir), "diffid", strings.TrimPrefix(digest, "sha256:"))
}

// diffID returns the digest of the layer's uncompressed tar, computed by
// the master from the stored blob (once; concurrent callers share the
// work) and kept beside the layer.
func (m *Master) diffID(digest string) (string, error) {
	if b, err := os.ReadFile(m.diffIDPath(digest)); err == nil && validDigest.Match(b) {
		return string(b), nil
	}
	return m.diffIDs.do(digest, func() (string, error) {
		rc, err := openLayer(m.layerPath(digest), m.cfg.LayerMaxBytes)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			if errors.Is(err, protocol.ErrLimit) {
				return "", fmt.Errorf("layer %s: %w", digest, err)
			}
			return "", fmt.Errorf("layer %s is not a readable (compressed) tar: %w: %v", digest, protocol.ErrInvalid, err)
		}
		id := "sha256:" + hex.EncodeToString(h.Sum(nil))
		p := m.diffIDPath(digest)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return "", err
		}
		tmp := fmt.Sprintf("%s.%s.tmp", p, randomID(4))
		if err := os.WriteFile(tmp, []byte(id), 0o600); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return "", err
		}
		return id, nil
	})
}

// flight runs one call per key at a time; concurrent callers of the same
// key wait for it and share its result, callers of other keys never wait.
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[T]
}

type flightCall[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func (f *flight[T]) do(key string, fn func() (T, error)) (T, error) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	if f.calls == nil {
		f.calls = map[string]*flightCall[T]{}
	}
	c := &flightCall[T]{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	c.val, c.err = fn()
	f.mu.Lock()
	delete(f.calls, key)
	f.mu.Unlock()
	close(c.done)
	return c.val, c.err
}

package ociarchive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// maxJSON caps every JSON document read into memory (manifests, indexes,
// configs); real ones are a few kilobytes.
const maxJSON = 16 << 20

// source is a tree of files holding an image: an archive or a directory.
// Names are slash-separated and relative to the root.
type source interface {
	// open streams the named file and reports its size.
	open(name string) (io.ReadCloser, int64, error)
	// stat reports the size of the named regular file.
	stat(name string) (int64, error)
}

// cleanName validates a path read from a manifest or an archive entry and
// returns it in canonical form ("./a//b" -> "a/b"). Absolute paths and any
// ".." component are rejected, so nothing can point outside the source.
func cleanName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: unsafe path %q", ErrInvalid, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: unsafe path %q", ErrInvalid, name)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", fmt.Errorf("%w: unsafe path %q", ErrInvalid, name)
	}
	return c, nil
}

// readAll reads a whole (small) file from src, refusing more than limit
// bytes.
func readAll(src source, name string, limit int64) ([]byte, error) {
	rc, size, err := src.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > limit {
		return nil, fmt.Errorf("%s: %w: %d bytes exceeds the %d byte limit", name, ErrInvalid, size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w: exceeds the %d byte limit", name, ErrInvalid, limit)
	}
	return b, nil
}

// dirSource is an OCI layout (or an unpacked docker save) in a directory.
// Files are opened through os.OpenInRoot so symlinks cannot escape it.
type dirSource struct{ dir string }

func (d dirSource) open(name string) (io.ReadCloser, int64, error) {
	c, err := cleanName(name)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.OpenInRoot(d.dir, c)
	if err != nil {
		return nil, 0, missing(name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w: not a regular file", name, ErrInvalid)
	}
	return f, fi.Size(), nil
}

func (d dirSource) stat(name string) (int64, error) {
	rc, size, err := d.open(name)
	if err != nil {
		return 0, err
	}
	rc.Close()
	return size, nil
}

// missing wraps a not-exist error as ErrMissingBlob and leaves others be.
func missing(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrMissingBlob, name)
	}
	return fmt.Errorf("open %s: %w", name, err)
}

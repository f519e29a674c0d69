package ociarchive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// maxEntries caps the index of a tar source; image archives hold a few
// files per layer.
const maxEntries = 100000

// maxLinkDepth bounds symlink/hardlink chains inside an archive (old
// `docker save` links duplicate layers to one copy).
const maxLinkDepth = 8

// tarSource is an image archive read in place. Load scans it once to index
// the entries; opening a file seeks to its data in a plain tar, or re-reads
// the stream up to the entry in a gzip-compressed one.
type tarSource struct {
	path    string
	gz      bool
	entries map[string]tarEntry
}

type tarEntry struct {
	typ     byte
	size    int64
	offset  int64 // start of the data; plain tar only
	ordinal int   // position in the archive, for re-scanning
	link    string
}

var gzipMagic = []byte{0x1f, 0x8b}

// openTar indexes the archive at p, failing with ErrNotImage when it is
// not a tar (or gzip-compressed tar) at all.
func openTar(p string) (*tarSource, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ts := &tarSource{path: p, entries: map[string]tarEntry{}}
	var magic [2]byte
	n, _ := io.ReadFull(f, magic[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var r io.Reader = f
	if n == 2 && magic == [2]byte(gzipMagic) {
		zr, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotImage, err)
		}
		defer zr.Close()
		ts.gz, r = true, zr
	}
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return nil, fmt.Errorf("%w: empty archive", ErrNotImage)
			}
			break
		}
		if errors.Is(err, tar.ErrInsecurePath) {
			return nil, fmt.Errorf("%w: unsafe path %q", ErrInvalid, hdr.Name)
		}
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("%w: %v", ErrNotImage, err)
			}
			return nil, fmt.Errorf("%w: corrupt archive: %v", ErrInvalid, err)
		}
		if i >= maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrInvalid, maxEntries)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if name == "" || name == "." {
			continue
		}
		name, err = cleanName(name)
		if err != nil {
			return nil, err
		}
		e := tarEntry{typ: hdr.Typeflag, size: hdr.Size, ordinal: i, link: hdr.Linkname}
		if !ts.gz {
			if e.offset, err = f.Seek(0, io.SeekCurrent); err != nil {
				return nil, err
			}
		}
		ts.entries[name] = e
	}
	return ts, nil
}

// resolve follows links from name to a regular file entry.
func (ts *tarSource) resolve(name string) (string, tarEntry, error) {
	c, err := cleanName(name)
	if err != nil {
		return "", tarEntry{}, err
	}
	for range maxLinkDepth {
		e, ok := ts.entries[c]
		if !ok {
			return "", tarEntry{}, fmt.Errorf("%w: %s", ErrMissingBlob, name)
		}
		switch e.typ {
		case tar.TypeReg:
			return c, e, nil
		case tar.TypeLink:
			c, err = cleanName(e.link)
		case tar.TypeSymlink:
			if strings.HasPrefix(e.link, "/") {
				return "", tarEntry{}, fmt.Errorf("%w: %s: absolute link %q", ErrInvalid, name, e.link)
			}
			c = path.Join(path.Dir(c), e.link)
			if c == ".." || strings.HasPrefix(c, "../") {
				return "", tarEntry{}, fmt.Errorf("%w: %s: link %q leaves the archive", ErrInvalid, name, e.link)
			}
			c, err = cleanName(c)
		default:
			return "", tarEntry{}, fmt.Errorf("%w: %s: not a regular file", ErrInvalid, name)
		}
		if err != nil {
			return "", tarEntry{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return "", tarEntry{}, fmt.Errorf("%w: %s: too many links", ErrInvalid, name)
}

func (ts *tarSource) stat(name string) (int64, error) {
	_, e, err := ts.resolve(name)
	return e.size, err
}

func (ts *tarSource) open(name string) (io.ReadCloser, int64, error) {
	_, e, err := ts.resolve(name)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(ts.path)
	if err != nil {
		return nil, 0, err
	}
	if !ts.gz {
		return readCloser{io.NewSectionReader(f, e.offset, e.size), f}, e.size, nil
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", ts.path, err)
	}
	tr := tar.NewReader(zr)
	for i := 0; i <= e.ordinal; i++ {
		if _, err := tr.Next(); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("%s: archive changed since Load: %w", ts.path, err)
		}
	}
	return readCloser{tr, f}, e.size, nil
}

// readCloser pairs a reader with the file it reads from.
type readCloser struct {
	io.Reader
	io.Closer
}

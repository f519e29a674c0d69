package master

import (
	"archive/tar"
	"errors"
	"fmt"
	"github.com/tffs/tffs/internal/filekind"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/tffs/tffs/protocol"
)

// imageTree is an image's file tree as a container's root looks before it
// starts: the layers merged in order, whiteouts and opaque directories
// applied (OCI image-spec, "Representing Changes").
type imageTree struct {
	files map[string]*treeEntry      // clean absolute path → entry
	kids  map[string]map[string]bool // directory path → names in it
}

// treeEntry is one file of the tree and where its bytes are.
type treeEntry struct {
	info  protocol.FileInfo
	layer string // digest of the layer holding a regular file's bytes
	name  string // the file's name inside that layer's tar
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	maxLinkHops    = 40
)

// buildTree reads the layers (compressed or not) and merges them, within
// lim: more than lim.maxEntries tar entries in all, or a layer larger than
// lim.maxBytes decompressed, is an error wrapping protocol.ErrLimit.
func buildTree(layerPath func(digest string) string, layers []protocol.Layer, lim readLimits) (*imageTree, error) {
	t := &imageTree{files: map[string]*treeEntry{}, kids: map[string]map[string]bool{}}
	t.files["/"] = &treeEntry{info: protocol.FileInfo{Name: "/", Mode: uint32(os.ModeDir | 0o755)}}
	entries := 0
	for _, l := range layers {
		if err := t.apply(layerPath(l.Digest), l.Digest, lim, &entries); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
	}
	return t, nil
}

// apply merges one layer into the tree, counting its tar entries in
// *entries.
func (t *imageTree) apply(file, digest string, lim readLimits, entries *int) error {
	dr, err := openLayer(file, lim.maxBytes)
	if err != nil {
		return err
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	added := map[string]bool{} // what this layer brought: its own opaque markers keep it
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, protocol.ErrLimit) {
			return err
		}
		if err != nil {
			return fmt.Errorf("%w: bad tar: %v", protocol.ErrInvalid, err)
		}
		if *entries++; *entries > lim.maxEntries {
			return fmt.Errorf("the image has more than %d files (the master's limit for browsing an image before start): %w", lim.maxEntries, protocol.ErrLimit)
		}
		p, ok := cleanTarName(h.Name)
		if !ok {
			continue
		}
		dir, base := path.Split(p)
		dir = path.Clean(dir)
		switch {
		case base == opaqueMarker:
			for name := range t.kids[dir] {
				if c := path.Join(dir, name); !added[c] {
					t.remove(c)
				}
			}
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			t.remove(path.Join(dir, base[len(whiteoutPrefix):]))
			continue
		}
		e := &treeEntry{info: protocol.FileInfo{Name: p, Size: h.Size, Mode: uint32(h.FileInfo().Mode()), ModTime: h.ModTime}}
		switch h.Typeflag {
		case tar.TypeLink:
			target, ok := cleanTarName(h.Linkname)
			te := t.files[target]
			if !ok || te == nil || os.FileMode(te.info.Mode).IsDir() {
				continue
			}
			c := *te
			c.info.Name = p
			e = &c
		case tar.TypeSymlink:
			e.info.Link, e.info.Size = h.Linkname, int64(len(h.Linkname))
		case tar.TypeReg:
			e.layer, e.name = digest, h.Name
		default:
			e.info.Size = 0
		}
		t.put(p, e, added)
	}
}

// put sets path p to e, replacing what was there (a directory that stays a
// directory keeps its contents) and making missing parents.
func (t *imageTree) put(p string, e *treeEntry, added map[string]bool) {
	old := t.files[p]
	isDir := os.FileMode(e.info.Mode).IsDir()
	if old != nil && (!isDir || !os.FileMode(old.info.Mode).IsDir()) {
		t.remove(p)
	}
	if p != "/" {
		dir, base := path.Split(p)
		dir = path.Clean(dir)
		if pe := t.files[dir]; pe == nil || !os.FileMode(pe.info.Mode).IsDir() {
			t.put(dir, &treeEntry{info: protocol.FileInfo{Name: dir, Mode: uint32(os.ModeDir | 0o755), ModTime: e.info.ModTime}}, added)
		}
		if t.kids[dir] == nil {
			t.kids[dir] = map[string]bool{}
		}
		t.kids[dir][base] = true
	}
	t.files[p] = e
	added[p] = true
}

// remove deletes p and everything under it.
func (t *imageTree) remove(p string) {
	if t.files[p] == nil || p == "/" {
		return
	}
	for name := range t.kids[p] {
		t.remove(path.Join(p, name))
	}
	delete(t.kids, p)
	delete(t.files, p)
	dir, base := path.Split(p)
	delete(t.kids[path.Clean(dir)], base)
}

// cleanTarName turns a tar entry name into a clean absolute path; names
// that climb out are dropped.
func cleanTarName(name string) (string, bool) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", false
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false
		}
	}
	return path.Clean("/" + name), true
}

// resolve finds p in the tree, following symlinks as the container would
// see them (rooted: `..` stops at /); a final symlink is followed only
// when followLast is set.
func (t *imageTree) resolve(p string, followLast bool) (string, *treeEntry, error) {
	cur, _, err := t.walk(p, followLast)
	if err != nil {
		return "", nil, err
	}
	return cur, t.files[cur], nil
}

// walk follows p through the tree from the root, splicing each symlink's
// target into the path as text (absolute ones restart at /, `..` stops at
// /). It returns the resolved path; when a component is missing or not a
// directory it returns the path up to there and what was left.
func (t *imageTree) walk(p string, followLast bool) (cur string, rest []string, err error) {
	hops := 0
	cur = "/"
	rest = strings.Split(strings.Trim(p, "/"), "/")
	for len(rest) > 0 {
		part := rest[0]
		switch part {
		case "", ".":
			rest = rest[1:]
			continue
		case "..":
			cur = path.Dir(cur)
			rest = rest[1:]
			continue
		}
		ce := t.files[cur]
		if !os.FileMode(ce.info.Mode).IsDir() {
			return cur, rest, fmt.Errorf("%s: %w", p, protocol.ErrNotDir)
		}
		next := path.Join(cur, part)
		e := t.files[next]
		if e == nil {
			return cur, rest, fmt.Errorf("%s: %w", p, protocol.ErrNotFound)
		}
		rest = rest[1:]
		if os.FileMode(e.info.Mode)&os.ModeSymlink != 0 && (len(rest) > 0 || followLast) {
			if hops++; hops > maxLinkHops || len(e.info.Link) >= maxResolved {
				return "", nil, fmt.Errorf("%s: too many symbolic links: %w", p, errLinkLoop)
			}
			if strings.HasPrefix(e.info.Link, "/") {
				cur = "/"
			}
			rest = append(strings.Split(e.info.Link, "/"), rest...)
			continue
		}
		cur = next
	}
	return cur, nil, nil
}

// list returns the entries of directory p, sorted by name.
func (t *imageTree) list(p string) ([]protocol.FileInfo, error) {
	dir, e, err := t.resolve(p, true)
	if err != nil {
		return nil, err
	}
	if !os.FileMode(e.info.Mode).IsDir() {
		return nil, fmt.Errorf("%s: %w", p, protocol.ErrNotDir)
	}
	names := make([]string, 0, len(t.kids[dir]))
	for n := range t.kids[dir] {
		names = append(names, n)
	}
	if len(names) > maxListEntries {
		return nil, fmt.Errorf("%s has %d entries, more than the %d a listing carries: %w", p, len(names), maxListEntries, protocol.ErrTooLarge)
	}
	sort.Strings(names)
	out := make([]protocol.FileInfo, 0, len(names))
	for _, n := range names {
		fi := t.files[path.Join(dir, n)].info
		if os.FileMode(fi.Mode)&os.ModeSymlink != 0 {
			fi.Resolved = t.linkTarget(path.Join(dir, n))
		}
		fi.Name = path.Join(p, n)
		out = append(out, fi)
	}
	return out, nil
}

// maxListEntries keeps a listing within the codec's item limit.
const maxListEntries = 4000

// open returns a reader of regular file p's bytes (following symlinks).
// Only a regular file is opened: a device, FIFO or socket of the image is
// refused with ErrInvalid.
func (t *imageTree) open(layerPath func(string) string, maxBytes int64, p string) (io.ReadCloser, protocol.FileInfo, error) {
	_, e, err := t.resolve(p, true)
	if err != nil {
		return nil, protocol.FileInfo{}, err
	}
	fi := e.info
	fi.Name = p
	if os.FileMode(fi.Mode).IsDir() {
		return nil, fi, fmt.Errorf("%s: %w", p, protocol.ErrIsDir)
	}
	if !os.FileMode(fi.Mode).IsRegular() || e.layer == "" {
		return nil, fi, fmt.Errorf("%s is %s, only regular files can be read: %w", p, filekind.Of(os.FileMode(fi.Mode)), protocol.ErrInvalid)
	}
	dr, err := openLayer(layerPath(e.layer), maxBytes)
	if err != nil {
		return nil, fi, err
	}
	tr := tar.NewReader(dr)
	for {
		h, err := tr.Next()
		if err != nil {
			dr.Close()
			return nil, fi, fmt.Errorf("%s: not found in layer %s: %w", p, e.layer, protocol.ErrNotFound)
		}
		if h.Name == e.name && h.Typeflag == tar.TypeReg {
			return struct {
				io.Reader
				io.Closer
			}{io.LimitReader(tr, h.Size), dr}, fi, nil
		}
	}
}

type closers []io.Closer

func (c closers) Close() error {
	for _, x := range c {
		x.Close()
	}
	return nil
}

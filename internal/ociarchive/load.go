package ociarchive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Load reads every image from path: a `docker save` tarball, an OCI
// image-layout tarball (oci-archive), either of them gzip-compressed, or an
// OCI image-layout directory. The kind is detected from the content, never
// from the name; manifest.json is preferred over index.json when a source
// has both, as newer `docker save` output does.
//
// Load reads the manifests and configs into memory and checks the config
// digests, but does not read layer contents (except to digest a compressed
// legacy docker layer whose file name does not give its digest). Layers are
// streamed and verified by Layer.Open, which reopens path; the source must
// stay in place until the layers have been read.
func Load(path string) ([]*Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load image: %w", err)
	}
	var src source
	switch {
	case fi.IsDir():
		src = dirSource{dir: path}
	case fi.Mode().IsRegular():
		ts, err := openTar(path)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		src = ts
	default:
		return nil, fmt.Errorf("load %s: %w: not a file or directory", path, ErrNotImage)
	}
	imgs, err := loadSource(src)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return imgs, nil
}

// loadSource picks the manifest format the source holds.
func loadSource(src source) ([]*Image, error) {
	_, err := src.stat("manifest.json")
	if err == nil {
		imgs, err := loadDocker(src)
		if err != nil {
			return nil, err
		}
		nameFromIndex(src, imgs)
		return imgs, nil
	}
	if !errors.Is(err, ErrMissingBlob) {
		return nil, err
	}
	_, err = src.stat("index.json")
	if err == nil {
		return loadOCI(src)
	}
	if !errors.Is(err, ErrMissingBlob) {
		return nil, err
	}
	return nil, ErrNoManifest
}

// nameFromIndex names the images manifest.json leaves unnamed (containerd
// writes "RepoTags": null there) from an index.json beside it, matching
// by config digest. The index is only a hint: if it does not load, the
// images stay unnamed.
func nameFromIndex(src source, imgs []*Image) {
	unnamed := false
	for _, img := range imgs {
		unnamed = unnamed || img.Name == ""
	}
	if !unnamed {
		return
	}
	if _, err := src.stat("index.json"); err != nil {
		return
	}
	named, err := loadOCI(src)
	if err != nil {
		return
	}
	for _, img := range imgs {
		for _, n := range named {
			if img.Name == "" && n.Name != "" && n.ConfigDigest == img.ConfigDigest {
				img.Name = n.Name
			}
		}
	}
}

// configInfo is the part of an image config Load needs.
type configInfo struct {
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// parseConfig checks an image config and returns its diff IDs, which must
// be one per layer.
func parseConfig(b []byte, layers int) ([]string, error) {
	var c configInfo
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: config: bad JSON: %v", ErrInvalid, err)
	}
	if c.RootFS.Type != "" && c.RootFS.Type != "layers" {
		return nil, fmt.Errorf("%w: config: rootfs type %q", ErrInvalid, c.RootFS.Type)
	}
	if len(c.RootFS.DiffIDs) != layers {
		return nil, fmt.Errorf("%w: config has %d diff_ids for %d layers", ErrInvalid, len(c.RootFS.DiffIDs), layers)
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := checkDigest(d); err != nil {
			return nil, fmt.Errorf("config diff_ids: %w", err)
		}
	}
	return c.RootFS.DiffIDs, nil
}

// opener returns a Layer.open that reopens name in src.
func opener(src source, name string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		rc, _, err := src.open(name)
		return rc, err
	}
}

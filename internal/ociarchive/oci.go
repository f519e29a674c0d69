package ociarchive

import (
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxIndexDepth bounds nested indexes (index.json -> index -> manifest is
// the deepest real layout).
const maxIndexDepth = 4

// wantOS and wantArch pick one manifest out of a multi-platform index.
const (
	wantOS   = "linux"
	wantArch = "amd64"
)

const dockerConfig = "application/vnd.docker.container.image.v1+json"

// loadOCI reads the images an OCI layout's index.json lists: one per
// top-level entry, except that platform variants sharing a name are
// narrowed to one.
func loadOCI(src source) ([]*Image, error) {
	b, err := readAll(src, "index.json", maxJSON)
	if err != nil {
		return nil, err
	}
	idx, err := parseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var imgs []*Image
	for _, group := range groupByName(imagesOf(idx.Manifests)) {
		d, err := pickPlatform(group)
		if err != nil {
			return nil, fmt.Errorf("index.json: %w", err)
		}
		name, err := nameOf(d)
		if err != nil {
			return nil, err
		}
		img, err := resolve(src, d, 0)
		if err != nil {
			return nil, fmt.Errorf("index.json %s: %w", d.Digest, err)
		}
		img.Name = name
		imgs = append(imgs, img)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%w: index.json lists no images", ErrInvalid)
	}
	return imgs, nil
}

// parseIndex decodes an image index (or Docker manifest list).
func parseIndex(b []byte) (*ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: bad JSON: %v", ErrInvalid, err)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion %d", ErrInvalid, idx.SchemaVersion)
	}
	return &idx, nil
}

// imagesOf drops attestation and other non-image entries of an index.
func imagesOf(ds []ocispec.Descriptor) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, d := range ds {
		if d.Annotations["vnd.docker.reference.type"] != "" {
			continue
		}
		if d.Platform != nil && d.Platform.OS == "unknown" {
			continue
		}
		out = append(out, d)
	}
	return out
}

// groupByName keeps entries apart unless they are platform variants of
// one name, in order of first appearance.
func groupByName(ds []ocispec.Descriptor) [][]ocispec.Descriptor {
	var groups [][]ocispec.Descriptor
	at := map[string]int{}
	for _, d := range ds {
		if d.Platform == nil {
			groups = append(groups, []ocispec.Descriptor{d})
			continue
		}
		key := d.Annotations[annotationContainerdName] + "\x00" + d.Annotations[ocispec.AnnotationRefName]
		if i, ok := at[key]; ok {
			groups[i] = append(groups[i], d)
			continue
		}
		at[key] = len(groups)
		groups = append(groups, []ocispec.Descriptor{d})
	}
	return groups
}

// pickPlatform chooses the only entry, or the linux/amd64 one.
func pickPlatform(ds []ocispec.Descriptor) (ocispec.Descriptor, error) {
	if len(ds) == 1 {
		return ds[0], nil
	}
	for _, d := range ds {
		if p := d.Platform; p != nil && p.OS == wantOS && p.Architecture == wantArch {
			return d, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: no %s/%s manifest among %d", ErrInvalid, wantOS, wantArch, len(ds))
}

// nameOf reads the image name from a descriptor's annotations.
func nameOf(d ocispec.Descriptor) (string, error) {
	if n := d.Annotations[annotationContainerdName]; n != "" {
		return normalizeName(n)
	}
	return normalizeName(d.Annotations[ocispec.AnnotationRefName])
}

// readBlob reads a small blob named by d and checks its size and digest.
func readBlob(src source, d ocispec.Descriptor) ([]byte, error) {
	if err := checkDigest(string(d.Digest)); err != nil {
		return nil, err
	}
	b, err := readAll(src, blobPath(string(d.Digest)), maxJSON)
	if err != nil {
		return nil, err
	}
	if got := digestOf(b); got != string(d.Digest) {
		return nil, fmt.Errorf("blob %s: %w: content is %s", d.Digest, ErrDigestMismatch, got)
	}
	if d.Size != int64(len(b)) {
		return nil, fmt.Errorf("blob %s: %w: %d bytes, descriptor says %d", d.Digest, ErrDigestMismatch, len(b), d.Size)
	}
	return b, nil
}

// resolve follows d through nested indexes to an image manifest and reads
// that image.
func resolve(src source, d ocispec.Descriptor, depth int) (*Image, error) {
	if depth > maxIndexDepth {
		return nil, fmt.Errorf("%w: indexes nested too deep", ErrInvalid)
	}
	b, err := readBlob(src, d)
	if err != nil {
		return nil, err
	}
	mt := d.MediaType
	if mt == "" {
		var probe struct {
			MediaType string          `json:"mediaType"`
			Manifests json.RawMessage `json:"manifests"`
		}
		if err := json.Unmarshal(b, &probe); err != nil {
			return nil, fmt.Errorf("%w: manifest %s: bad JSON: %v", ErrInvalid, d.Digest, err)
		}
		mt = probe.MediaType
		if mt == "" && probe.Manifests != nil {
			mt = ocispec.MediaTypeImageIndex
		}
	}
	switch mt {
	case ocispec.MediaTypeImageIndex, dockerManifestList:
		idx, err := parseIndex(b)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		next, err := pickPlatform(imagesOf(idx.Manifests))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		return resolve(src, next, depth+1)
	case ocispec.MediaTypeImageManifest, dockerManifest, "":
		return loadManifest(src, d, b)
	}
	return nil, fmt.Errorf("%w: %s: unsupported media type %q", ErrInvalid, d.Digest, mt)
}

// loadManifest reads the config and describes the layers of one image
// manifest.
func loadManifest(src source, d ocispec.Descriptor, b []byte) (*Image, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest %s: bad JSON: %v", ErrInvalid, d.Digest, err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: manifest %s: schemaVersion %d", ErrInvalid, d.Digest, m.SchemaVersion)
	}
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, dockerConfig:
	default:
		return nil, fmt.Errorf("%w: manifest %s: not a container image (config type %q)", ErrInvalid, d.Digest, m.Config.MediaType)
	}
	cfg, err := readBlob(src, m.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	diffIDs, err := parseConfig(cfg, len(m.Layers))
	if err != nil {
		return nil, err
	}
	img := &Image{Config: cfg, ConfigDigest: string(m.Config.Digest)}
	for i, ld := range m.Layers {
		l, err := ociLayer(src, ld, diffIDs[i])
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		img.Layers = append(img.Layers, l)
	}
	return img, nil
}

// ociLayer describes one layer blob, checking that it is there with the
// size the manifest gives; its content is checked when it is opened.
func ociLayer(src source, d ocispec.Descriptor, diffID string) (Layer, error) {
	dg := string(d.Digest)
	if err := checkDigest(dg); err != nil {
		return Layer{}, err
	}
	mt, err := layerMediaType(d.MediaType)
	if err != nil {
		return Layer{}, err
	}
	if mt == ocispec.MediaTypeImageLayer && dg != diffID {
		return Layer{}, fmt.Errorf("%w: uncompressed layer %s but diff_id %s", ErrDigestMismatch, dg, diffID)
	}
	p := blobPath(dg)
	size, err := src.stat(p)
	if err != nil {
		return Layer{}, err
	}
	if size != d.Size {
		return Layer{}, fmt.Errorf("blob %s: %w: %d bytes, descriptor says %d", dg, ErrDigestMismatch, size, d.Size)
	}
	return Layer{Digest: dg, DiffID: diffID, MediaType: mt, Size: size, open: opener(src, p)}, nil
}

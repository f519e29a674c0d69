package ociarchive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dockerEntry is one image in a `docker save` manifest.json.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// loadDocker reads the images a docker-save manifest.json lists.
func loadDocker(src source) ([]*Image, error) {
	b, err := readAll(src, "manifest.json", maxJSON)
	if err != nil {
		return nil, err
	}
	var entries []dockerEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: bad JSON: %v", ErrInvalid, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: manifest.json lists no images", ErrInvalid)
	}
	imgs := make([]*Image, 0, len(entries))
	for i, e := range entries {
		img, err := loadDockerEntry(src, e)
		if err != nil {
			return nil, fmt.Errorf("manifest.json image %d: %w", i, err)
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

func loadDockerEntry(src source, e dockerEntry) (*Image, error) {
	if e.Config == "" {
		return nil, fmt.Errorf("%w: no Config", ErrInvalid)
	}
	cfgPath, err := cleanName(e.Config)
	if err != nil {
		return nil, err
	}
	cfg, err := readAll(src, cfgPath, maxJSON)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img := &Image{Config: cfg, ConfigDigest: digestOf(cfg)}
	if want := digestFromPath(cfgPath); want != "" && want != img.ConfigDigest {
		return nil, fmt.Errorf("config %s: %w: content is %s", cfgPath, ErrDigestMismatch, img.ConfigDigest)
	}
	diffIDs, err := parseConfig(cfg, len(e.Layers))
	if err != nil {
		return nil, err
	}
	if len(e.RepoTags) > 0 {
		if img.Name, err = normalizeName(e.RepoTags[0]); err != nil {
			return nil, err
		}
	}
	for i, lp := range e.Layers {
		l, err := dockerLayer(src, lp, diffIDs[i])
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		img.Layers = append(img.Layers, l)
	}
	return img, nil
}

// dockerLayer describes one docker-save layer file. Its digest comes from
// its name (blobs/sha256/<hex>), from the diff ID when it is an
// uncompressed tar, or else from reading it once.
func dockerLayer(src source, p, diffID string) (Layer, error) {
	p, err := cleanName(p)
	if err != nil {
		return Layer{}, err
	}
	rc, size, err := src.open(p)
	if err != nil {
		return Layer{}, err
	}
	defer rc.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Layer{}, fmt.Errorf("read %s: %w", p, err)
	}
	l := Layer{DiffID: diffID, MediaType: sniffMediaType(head[:n]), Size: size, open: opener(src, p)}
	switch d := digestFromPath(p); {
	case d != "":
		l.Digest = d
	case l.MediaType == ocispec.MediaTypeImageLayer:
		l.Digest = diffID
	default:
		h := sha256.New()
		h.Write(head[:n])
		if _, err := io.Copy(h, rc); err != nil {
			return Layer{}, fmt.Errorf("read %s: %w", p, err)
		}
		l.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	if l.MediaType == ocispec.MediaTypeImageLayer && l.Digest != diffID {
		return Layer{}, fmt.Errorf("%s: %w: uncompressed layer %s but diff_id %s", p, ErrDigestMismatch, l.Digest, diffID)
	}
	return l, nil
}

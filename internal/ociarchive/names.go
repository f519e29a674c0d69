package ociarchive

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of Docker's schema 2 that map onto OCI ones.
const (
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerLayerTar     = "application/vnd.docker.image.rootfs.diff.tar"
	dockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	dockerLayerZstd    = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	dockerForeignGzip  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// annotationContainerdName is where containerd and docker ≥25 put the full
// image name; org.opencontainers.image.ref.name then holds only the tag.
const annotationContainerdName = "io.containerd.image.name"

// layerMediaType maps a layer media type (OCI or Docker) to its OCI form.
func layerMediaType(mt string) (string, error) {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd:
		return mt, nil
	case ocispec.MediaTypeImageLayerNonDistributable: //nolint:staticcheck // still found in old images
		return ocispec.MediaTypeImageLayer, nil
	case ocispec.MediaTypeImageLayerNonDistributableGzip: //nolint:staticcheck
		return ocispec.MediaTypeImageLayerGzip, nil
	case ocispec.MediaTypeImageLayerNonDistributableZstd: //nolint:staticcheck
		return ocispec.MediaTypeImageLayerZstd, nil
	case dockerLayerTar:
		return ocispec.MediaTypeImageLayer, nil
	case dockerLayerGzip, dockerForeignGzip:
		return ocispec.MediaTypeImageLayerGzip, nil
	case dockerLayerZstd:
		return ocispec.MediaTypeImageLayerZstd, nil
	}
	return "", fmt.Errorf("%w: unsupported layer media type %q", ErrInvalid, mt)
}

// sniffMediaType picks the OCI layer media type from a blob's first bytes.
func sniffMediaType(head []byte) string {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return ocispec.MediaTypeImageLayerGzip
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayer
}

// digestOf returns the "sha256:<hex>" digest of b.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// checkDigest validates a digest string; only sha256 is supported.
func checkDigest(d string) error {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok {
		return fmt.Errorf("%w: unsupported digest %q", ErrInvalid, d)
	}
	if !isHex64(hexPart) {
		return fmt.Errorf("%w: malformed digest %q", ErrInvalid, d)
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// blobPath is where an OCI layout keeps the blob with digest d.
func blobPath(d string) string {
	return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:")
}

// digestFromPath recovers the digest a docker-save file name encodes:
// "blobs/sha256/<hex>" or "<hex>.json"; "" when the name encodes none.
func digestFromPath(p string) string {
	if h, ok := strings.CutPrefix(p, "blobs/sha256/"); ok && isHex64(h) {
		return "sha256:" + h
	}
	if h, ok := strings.CutSuffix(p, ".json"); ok && isHex64(h) {
		return "sha256:" + h
	}
	return ""
}

// normalizeName turns a reference into the short form tffs shows:
// "docker.io/library/busybox" -> "busybox:latest". A bare tag (what
// org.opencontainers.image.ref.name often holds) names no image and
// yields "".
func normalizeName(ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	if len(ref) > 255 {
		return "", fmt.Errorf("%w: image name longer than 255 bytes", ErrInvalid)
	}
	for _, c := range ref {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-/:@", c)
		if !ok {
			return "", fmt.Errorf("%w: bad image name %q", ErrInvalid, ref)
		}
	}
	for _, p := range []string{"docker.io/", "index.docker.io/"} {
		if r, ok := strings.CutPrefix(ref, p); ok {
			ref = r
			break
		}
	}
	if r, ok := strings.CutPrefix(ref, "library/"); ok && r != "" {
		ref = r
	}
	repo := ref
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		repo = ref[:i]
	}
	lastSlash := strings.LastIndexByte(repo, '/')
	if !strings.Contains(repo[lastSlash+1:], ":") {
		if repo == ref && !strings.Contains(ref, "/") && isBareTag(ref) {
			return "", nil
		}
		if repo == ref {
			ref += ":latest"
		}
	}
	if strings.HasPrefix(ref, ":") || strings.HasPrefix(ref, "@") || strings.HasSuffix(ref, ":") {
		return "", fmt.Errorf("%w: bad image name %q", ErrInvalid, ref)
	}
	return ref, nil
}

// isBareTag reports whether ref is only a tag such as "latest" or "1.36",
// i.e. an org.opencontainers.image.ref.name without a repository.
func isBareTag(ref string) bool {
	if ref == "latest" {
		return true
	}
	// Tags usually start with a digit or "v<digit>"; repositories rarely do.
	return ref[0] >= '0' && ref[0] <= '9' || len(ref) > 1 && ref[0] == 'v' && ref[1] >= '0' && ref[1] <= '9'
}

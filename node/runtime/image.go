package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Layer describes one image layer blob.
type Layer struct {
	Digest    string // digest of the blob as stored (compressed or not)
	DiffID    string // digest of the uncompressed tar; "" = take it from the config
	MediaType string // OCI or Docker layer media type (tar, tar+gzip, tar+zstd); "" = OCI tar
	Size      int64  // blob size in bytes
}

// ImageSpec describes an image whose blobs are (or will be) in the
// content store.
type ImageSpec struct {
	Name         string  // image record name, used as Spec.Image; see ImageRef
	Config       []byte  // raw OCI image config JSON
	ConfigDigest string  // digest of Config; "" = computed
	Layers       []Layer // bottom layer first
}

// HasBlob reports whether the content store holds the blob.
func (r *Runtime) HasBlob(ctx context.Context, dgst string) bool {
	d, err := digest.Parse(dgst)
	if err != nil {
		return false
	}
	_, err = r.client.ContentStore().Info(r.nsCtx(ctx), d)
	return err == nil
}

// WriteBlob streams a blob into the content store and verifies its digest
// and size. Writing a blob that is already present is a no-op (rd is not
// read). A digest or size mismatch wraps ErrInvalid and stores nothing.
func (r *Runtime) WriteBlob(ctx context.Context, dgst string, size int64, rd io.Reader) error {
	d, err := digest.Parse(dgst)
	if err != nil {
		return fmt.Errorf("blob digest %q: %w: %w", dgst, ErrInvalid, err)
	}
	return r.writeBlob(ctx, ocispec.Descriptor{Digest: d, Size: size}, rd, nil)
}

// writeBlob writes desc's content under the blob lease.
func (r *Runtime) writeBlob(ctx context.Context, desc ocispec.Descriptor, rd io.Reader, labels map[string]string) error {
	ctx = leases.WithLease(r.nsCtx(ctx), blobLease)
	cs := r.client.ContentStore()
	ref := "tffs-" + desc.Digest.String()
	var opts []content.Opt
	if labels != nil {
		opts = append(opts, content.WithLabels(labels))
	}
	if err := content.WriteBlob(ctx, cs, ref, rd, desc, opts...); err != nil {
		_ = cs.Abort(ctx, ref)
		if errdefs.IsFailedPrecondition(err) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("write blob %s: %w: %w", desc.Digest, ErrInvalid, err)
		}
		return wrapErr(err, "write blob "+desc.Digest.String())
	}
	return nil
}

// ImageRef returns the image record name for spec as account's: it is
// derived from the account and the image's content (the digest of the
// manifest built from its config and layers), so no other account, no
// reused name and no reused config can make it name other files. spec.Name
// is ignored.
func ImageRef(account string, spec ImageSpec) (string, error) {
	if spec.Name == "" {
		spec.Name = "-"
	}
	mdesc, _, _, err := buildManifest(spec)
	if err != nil {
		return "", err
	}
	acct := sha256.Sum256([]byte("tffs-account\x00" + account))
	return "tffs/" + hex.EncodeToString(acct[:16]) + "@" + mdesc.Digest.String(), nil
}

// EnsureImage makes the image usable by Create: it writes the config blob
// and a generated OCI manifest, creates the image record (an existing
// record naming other content is ErrExists: records are never repointed)
// and unpacks the layers into the overlayfs snapshotter (whiteouts are
// applied by containerd, which checks each layer against its diff_id). All layer blobs must already be present (else
// ErrNotFound). It is idempotent and cheap when the image is unpacked.
func (r *Runtime) EnsureImage(ctx context.Context, spec ImageSpec) error {
	mdesc, manifest, labels, err := buildManifest(spec)
	if err != nil {
		return err
	}
	for _, l := range manifest.Layers {
		if !r.HasBlob(ctx, l.Digest.String()) {
			return fmt.Errorf("image %s: layer %s: %w", spec.Name, l.Digest, ErrNotFound)
		}
	}
	r.imageMu.Lock()
	defer r.imageMu.Unlock()
	ctx = leases.WithLease(r.nsCtx(ctx), blobLease)

	if err := r.writeBlob(ctx, manifest.Config, bytes.NewReader(spec.Config), nil); err != nil {
		return err
	}
	raw, _ := json.Marshal(manifest)
	if err := r.writeBlob(ctx, mdesc, bytes.NewReader(raw), labels); err != nil {
		return err
	}
	rec := images.Image{Name: spec.Name, Target: mdesc}
	is := r.client.ImageService()
	if cur, err := is.Get(ctx, spec.Name); err == nil {
		// A record is never repointed: what a container was created from
		// stays what it reboots and resets into.
		if cur.Target.Digest != mdesc.Digest {
			return fmt.Errorf("image record %s names manifest %s, not %s: %w", spec.Name, cur.Target.Digest, mdesc.Digest, ErrExists)
		}
		rec = cur
	} else if errdefs.IsNotFound(err) {
		if rec, err = is.Create(ctx, rec); err != nil {
			return wrapErr(err, "create image "+spec.Name)
		}
	} else {
		return wrapErr(err, "get image "+spec.Name)
	}
	img := client.NewImage(r.client, rec)
	if ok, err := img.IsUnpacked(ctx, snapshotter); err == nil && ok {
		return nil
	}
	if err := img.Unpack(ctx, snapshotter); err != nil {
		return wrapErr(err, "unpack image "+spec.Name)
	}
	r.log.Info("image unpacked", "image", spec.Name, "manifest", mdesc.Digest, "layers", len(spec.Layers))
	return nil
}

// buildManifest validates spec and returns the manifest descriptor, the
// manifest, and the GC labels that keep its config and layers alive.
func buildManifest(spec ImageSpec) (ocispec.Descriptor, ocispec.Manifest, map[string]string, error) {
	var zero ocispec.Descriptor
	bad := func(format string, a ...any) (ocispec.Descriptor, ocispec.Manifest, map[string]string, error) {
		return zero, ocispec.Manifest{}, nil, fmt.Errorf("image %q: "+format+": %w", append(append([]any{spec.Name}, a...), ErrInvalid)...)
	}
	if spec.Name == "" {
		return bad("empty name")
	}
	cfgDigest := digest.FromBytes(spec.Config)
	if spec.ConfigDigest != "" && spec.ConfigDigest != cfgDigest.String() {
		return bad("config digest %s does not match its content (%s)", spec.ConfigDigest, cfgDigest)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(spec.Config, &cfg); err != nil {
		return bad("config JSON: %v", err)
	}
	if len(spec.Layers) == 0 || len(cfg.RootFS.DiffIDs) != len(spec.Layers) {
		return bad("%d layers but %d diff_ids in config", len(spec.Layers), len(cfg.RootFS.DiffIDs))
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(spec.Config))},
	}
	labels := map[string]string{"containerd.io/gc.ref.content.config": cfgDigest.String()}
	for i, l := range spec.Layers {
		d, err := digest.Parse(l.Digest)
		if err != nil {
			return bad("layer %d digest %q: %v", i, l.Digest, err)
		}
		if l.DiffID != "" && l.DiffID != cfg.RootFS.DiffIDs[i].String() {
			return bad("layer %d diff id %s differs from config (%s)", i, l.DiffID, cfg.RootFS.DiffIDs[i])
		}
		mt := l.MediaType
		if mt == "" {
			mt = ocispec.MediaTypeImageLayer
		}
		if !images.IsLayerType(mt) {
			return bad("layer %d media type %q", i, mt)
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mt, Digest: d, Size: l.Size})
		labels[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = d.String()
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return bad("manifest: %v", err)
	}
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	return mdesc, m, labels, nil
}

package sdk

import (
	"context"
	"fmt"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/protocol"
)

// Image is an image read from a local source, ready to upload.
type Image = ociarchive.Image

// LoadImages reads the images in a `docker save` tarball, an OCI archive or
// an OCI layout directory.
func LoadImages(path string) ([]*Image, error) { return ociarchive.Load(path) }

// Progress reports an image upload: bytes of missing layers sent so far out
// of the total to send.
type Progress struct {
	Image       string
	Layer       string
	Sent, Total int64
	Skipped     int // layers the location already had
}

// EnsureImage makes the image available in the location under name ("" =
// the image's own name), uploading only the layers the location lacks.
// progress, if not nil, is called as bytes go out.
func (l *Location) EnsureImage(ctx context.Context, img *Image, name string, progress func(Progress)) error {
	if name == "" {
		name = img.Name
	}
	if name == "" {
		return fmt.Errorf("image has no name; give one: %w", ErrInvalid)
	}
	desc := protocol.Image{Name: name, Config: img.Config, ConfigDigest: img.ConfigDigest}
	var digests []string
	byDigest := map[string]ociarchive.Layer{}
	for _, ly := range img.Layers {
		desc.Layers = append(desc.Layers, protocol.Layer{Digest: ly.Digest, DiffID: ly.DiffID, MediaType: ly.MediaType, Size: ly.Size})
		digests = append(digests, ly.Digest)
		byDigest[ly.Digest] = ly
	}
	var need protocol.LayersNeededReply
	if err := l.call(ctx, protocol.OpLayersNeeded, protocol.LayersNeededRequest{Digests: digests}, &need, ""); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	p := Progress{Image: name, Skipped: len(digests) - len(need.Missing)}
	for _, d := range need.Missing {
		p.Total += byDigest[d].Size
	}
	for _, d := range need.Missing {
		p.Layer = d
		if err := l.uploadLayer(ctx, byDigest[d], &p, progress); err != nil {
			return fmt.Errorf("image %s: layer %s: %w", name, d, err)
		}
	}
	if progress != nil {
		progress(p)
	}
	if err := l.call(ctx, protocol.OpImagePut, desc, nil, ""); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	return nil
}

func (l *Location) uploadLayer(ctx context.Context, ly ociarchive.Layer, p *Progress, progress func(Progress)) error {
	rc, err := ly.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	id := l.newID()
	key := protocol.StreamKey{ID: id}
	snd := protocol.NewSender(id, protocol.Msg{}, l.conn.Send)
	l.streams.AddSender(key, snd)
	defer l.streams.Remove(key)
	wait := l.calls.Start(ctx, l.conn.Send, protocol.OpLayerPut,
		protocol.LayerPutRequest{Digest: ly.Digest, Size: ly.Size, Stream: id}, nil, nil)
	replied := make(chan error, 1)
	go func() {
		err := wait()
		if err != nil {
			snd.Abort(err)
		}
		replied <- err
	}()
	werr := sendAll(ctx, snd, rc, func(n int) {
		p.Sent += int64(n)
		if progress != nil {
			progress(*p)
		}
	})
	if err := <-replied; err != nil {
		return err
	}
	return werr
}

// ImportImages loads every image at path and ensures each in the location;
// it returns their names.
func (l *Location) ImportImages(ctx context.Context, path string, progress func(Progress)) ([]string, error) {
	imgs, err := LoadImages(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, img := range imgs {
		if err := l.EnsureImage(ctx, img, "", progress); err != nil {
			return names, err
		}
		names = append(names, img.Name)
	}
	return names, nil
}

// Images lists the images this account holds in the location.
func (l *Location) Images(ctx context.Context) ([]protocol.Image, error) {
	var list protocol.ImageList
	err := l.call(ctx, protocol.OpImageList, protocol.Empty{}, &list, "")
	for i := range list.Images {
		list.Images[i].Config = nil
	}
	return list.Images, err
}

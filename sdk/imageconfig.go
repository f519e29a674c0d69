package sdk

import (
	"context"
	"fmt"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/protocol"
)

// DescribeImage returns the description of the image the account holds
// under name ("busybox" = "busybox:latest"), its config JSON included;
// ErrNotFound if there is none.
func (l *Location) DescribeImage(ctx context.Context, name string) (protocol.Image, error) {
	norm, err := ociarchive.NormalizeName(name)
	if err != nil {
		return protocol.Image{}, fmt.Errorf("image %q: %w", name, ErrInvalid)
	}
	var list protocol.ImageList
	if err := l.call(ctx, protocol.OpImageList, protocol.Empty{}, &list, ""); err != nil {
		return protocol.Image{}, err
	}
	for _, img := range list.Images {
		if img.Name == norm || img.Name == name {
			return img, nil
		}
	}
	return protocol.Image{}, fmt.Errorf("image %q: %w", name, ErrNotFound)
}

// RemoveImage forgets one of the account's images in the location
// ("busybox" = "busybox:latest"); ErrNotFound if there is none. Running
// containers are not affected.
func (l *Location) RemoveImage(ctx context.Context, name string) error {
	if err := l.call(ctx, protocol.OpImageRemove, protocol.ImageRemoveRequest{Name: name}, nil, ""); err != nil {
		return fmt.Errorf("remove image %s: %w", name, err)
	}
	return nil
}

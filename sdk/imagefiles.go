package sdk

import (
	"context"
	"fmt"
	"io"

	"github.com/tffs/tffs/protocol"
)

// ListImage lists directory dir of an image's file tree: its layers merged,
// as a container's root looks before it starts. Symlinks are followed as
// the container would follow them.
func (l *Location) ListImage(ctx context.Context, image, dir string) ([]FileInfo, error) {
	var fl protocol.FileList
	if err := l.call(ctx, protocol.OpImageFiles, protocol.ImageFileRequest{Image: image, Path: dir}, &fl, ""); err != nil {
		return nil, fmt.Errorf("list %s in image %s: %w", dir, image, err)
	}
	return fl.Files, nil
}

// FetchImageFile streams a regular file of an image's file tree (see
// ListImage); close the reader when done.
func (l *Location) FetchImageFile(ctx context.Context, image, path string) (io.ReadCloser, FileInfo, error) {
	rc, fi, err := l.fetchStream(ctx, "", protocol.OpImageFetch, func(stream uint64) any {
		return protocol.ImageFileRequest{Image: image, Path: path, Stream: stream}
	})
	if err != nil {
		return nil, fi, fmt.Errorf("fetch %s from image %s: %w", path, image, err)
	}
	return rc, fi, nil
}

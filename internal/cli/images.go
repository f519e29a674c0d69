package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tffs/tffs/internal/dockerimg"
	"github.com/tffs/tffs/sdk"
)

// LatestDocker is the IMAGE argument that means the local Docker engine's
// most recently built image.
const LatestDocker = "."

// Images finds the images `tffs run` and `tffs image` name: in the
// location first, else in the local Docker engine.
type Images struct {
	Loc      *sdk.Location
	Engine   *dockerimg.Engine
	Progress io.Writer // upload progress goes here (nil: none)
}

// Resolve returns the name under which the location holds ref, uploading
// the image from the Docker engine when the location lacks it ("." = the
// engine's latest image). Only the layers the location lacks are sent.
func (im Images) Resolve(ctx context.Context, ref string) (string, error) {
	if ref != LatestDocker {
		if _, err := im.Loc.DescribeImage(ctx, ref); err == nil {
			return ref, nil
		} else if !errors.Is(err, sdk.ErrNotFound) {
			return "", err
		}
	}
	return im.Push(ctx, ref)
}

// Push uploads ref from the Docker engine ("." = its latest image) unless
// the location already holds that very image under its name, and returns
// that name.
func (im Images) Push(ctx context.Context, ref string) (string, error) {
	if im.Engine == nil || !im.Engine.Available(ctx) {
		return "", fmt.Errorf("image %s: not in the location and %v: %w", ref, dockerimg.ErrNoEngine, sdk.ErrNotFound)
	}
	name := ref
	if ref == LatestDocker {
		latest, err := im.Engine.Latest(ctx)
		if err != nil {
			return "", err
		}
		ref, name = latest.ID, latest.Name()
		if name == "" { // untagged: named after its id
			name = "docker/" + strings.TrimPrefix(latest.ID, "sha256:")[:12] + ":latest"
		}
	}
	_, id, err := im.Engine.Inspect(ctx, ref)
	if errors.Is(err, dockerimg.ErrNotFound) {
		return "", fmt.Errorf("image %s: in neither the location nor the local Docker engine: %w", ref, sdk.ErrNotFound)
	} else if err != nil {
		return "", err
	}
	if have, err := im.Loc.DescribeImage(ctx, name); err == nil && have.ConfigDigest == id {
		return name, nil // this very image is there already
	}
	tmp, err := os.CreateTemp("", "tffs-docker-save-*.tar")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := im.Engine.Save(ctx, ref, tmp); err != nil {
		return "", err
	}
	imgs, err := sdk.LoadImages(tmp.Name())
	if err != nil {
		return "", fmt.Errorf("image %s from the Docker engine: %w", ref, err)
	}
	var img *sdk.Image
	for _, i := range imgs {
		if i.ConfigDigest == id || img == nil {
			img = i
		}
	}
	if err := im.Loc.EnsureImage(ctx, img, name, progressBar(im.Progress)); err != nil {
		return "", err
	}
	return name, nil
}

// progressBar draws an upload's progress on w, at most five times a second.
func progressBar(w io.Writer) func(sdk.Progress) {
	if w == nil {
		return nil
	}
	var last time.Time
	finished := false
	return func(p sdk.Progress) {
		done := p.Sent == p.Total
		if p.Total == 0 || finished || (!done && time.Since(last) < 200*time.Millisecond) {
			return
		}
		finished = done
		last = time.Now()
		const width = 30
		n := int(int64(width) * p.Sent / p.Total)
		fmt.Fprintf(w, "\r%s [%s%s] %.1f/%.1f MB (%d layers already there)", p.Image,
			strings.Repeat("=", n), strings.Repeat(" ", width-n), float64(p.Sent)/1e6, float64(p.Total)/1e6, p.Skipped)
		if done {
			fmt.Fprintln(w)
		}
	}
}

// Describe writes the config of ref as indented JSON: the location's copy,
// else the local Docker engine's description.
func (im Images) Describe(ctx context.Context, ref string, w io.Writer) error {
	var raw []byte
	if ref != LatestDocker {
		img, err := im.Loc.DescribeImage(ctx, ref)
		if err != nil && !errors.Is(err, sdk.ErrNotFound) {
			return err
		}
		raw = img.Config
	}
	if raw == nil {
		if im.Engine == nil || !im.Engine.Available(ctx) {
			return fmt.Errorf("image %s: not in the location and %v: %w", ref, dockerimg.ErrNoEngine, sdk.ErrNotFound)
		}
		if ref == LatestDocker {
			latest, err := im.Engine.Latest(ctx)
			if err != nil {
				return err
			}
			ref = latest.ID
		}
		r, _, err := im.Engine.Inspect(ctx, ref)
		if err != nil {
			return err
		}
		raw = r
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("image %s config: %w", ref, err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

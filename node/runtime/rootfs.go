package runtime

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/core/mount"
	"golang.org/x/sys/unix"
)

// withRoot calls fn with an O_PATH handle of the container's root
// directory: /proc/<pid>/root while the main task runs (the container's own
// mount namespace, volumes included), otherwise a temporary mount of the
// snapshot, which is held (with c.mu) until fn returns. A file fn leaves
// open stays readable after the temporary mount is detached.
func (c *Container) withRoot(ctx context.Context, fn func(root *os.File) error) error {
	if c.dirRoot != "" {
		return c.withDirRoot(fn)
	}
	for {
		c.mu.Lock()
		if c.destroyed {
			c.mu.Unlock()
			return fmt.Errorf("container %s: %w", c.id, ErrNotFound)
		}
		b := c.boot
		if b == nil || b.isExited() {
			defer c.mu.Unlock()
			return c.withMountedRoot(ctx, fn)
		}
		root, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", b.pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		c.mu.Unlock()
		if err == nil {
			defer root.Close()
			return fn(root)
		}
		// The process is gone but its task is not deleted yet: wait.
		select {
		case <-b.exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// withMountedRoot mounts the container's snapshot on a temporary
// directory under the state dir and calls fn with a handle of it. The
// caller must hold c.mu (or own c exclusively) and no task may be running.
func (c *Container) withMountedRoot(ctx context.Context, fn func(root *os.File) error) error {
	ctx = c.r.nsCtx(ctx)
	mounts, err := c.r.client.SnapshotService(snapshotter).Mounts(ctx, c.id)
	if err != nil {
		return wrapErr(err, "snapshot mounts of "+c.id)
	}
	dir, err := os.MkdirTemp(mountDir(c.r.cfg.StateDir), c.id+"-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := mount.All(mounts, dir); err != nil {
		return fmt.Errorf("mount snapshot of %s: %w", c.id, err)
	}
	defer func() {
		if err := mount.UnmountAll(dir, unix.MNT_DETACH); err != nil {
			c.r.log.Warn("unmount snapshot", "id", c.id, "dir", dir, "err", err)
		}
	}()
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	return fn(root)
}

// resetSnapshot replaces the container's snapshot by a fresh one on top of
// the image's unpacked layers. c.mu is held and no task is running.
func (c *Container) resetSnapshot(ctx context.Context) error {
	ctx = c.r.nsCtx(ctx)
	img, err := c.r.client.GetImage(ctx, c.spec.Image)
	if err != nil {
		return wrapErr(err, "image "+c.spec.Image)
	}
	if got := img.Target().Digest.String(); got != c.manifest {
		return fmt.Errorf("image record %s names manifest %s, not %s the container was created from: %w", c.spec.Image, got, c.manifest, ErrBusy)
	}
	if ok, err := img.IsUnpacked(ctx, snapshotter); err != nil || !ok {
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return wrapErr(err, "unpack image "+c.spec.Image)
		}
	}
	lctx, done, err := c.r.client.WithLease(ctx)
	if err != nil {
		return wrapErr(err, "lease")
	}
	defer done(c.r.nsCtx(context.Background()))
	sn := c.r.client.SnapshotService(snapshotter)
	if err := sn.Remove(lctx, c.id); err != nil && sentinelOf(err) != ErrNotFound {
		return wrapErr(err, "remove snapshot "+c.id)
	}
	return c.r.prepareRoot(lctx, img, c.spec, c.id)
}

package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/image-spec/identity"
	"golang.org/x/sys/unix"
)

// remapLocks serialises the making of one remapped snapshot (keyed by its
// name); different images are remapped concurrently.
var remapLocks sync.Map // string → *sync.Mutex

// prepareRoot prepares the active snapshot key (ctx carries its lease) for
// a container's root: on the image's unpacked chain, or for a container
// in the node's user namespace on that chain with its owners shifted into
// the uid range (see harden.go), made on first use.
func (r *Runtime) prepareRoot(ctx context.Context, img client.Image, s Spec, key string) error {
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return wrapErr(err, "image rootfs "+img.Name())
	}
	chain := identity.ChainID(diffIDs).String()
	sn := r.client.SnapshotService(snapshotter)
	parent := chain
	if !s.Relax.HostUsers {
		parent = r.remapKey(chain)
	}
	_, err = sn.Prepare(ctx, key, parent)
	if errdefs.IsNotFound(err) && parent != chain {
		if err = r.remap(ctx, chain); err == nil {
			_, err = sn.Prepare(ctx, key, parent)
		}
	}
	return wrapErr(err, "prepare snapshot "+key)
}

// remapKey names chain's remapped snapshot.
func (r *Runtime) remapKey(chain string) string {
	return fmt.Sprintf("tffs-remap-%d-%d-%s", r.hard.UIDStart, r.hard.UIDSize, chain)
}

// remap makes chain's remapped snapshot unless it exists. It is held by
// the blob lease, so it stays (a cache) when the containers made from it
// are gone.
func (r *Runtime) remap(ctx context.Context, chain string) error {
	h, key := r.hard, r.remapKey(chain)
	mu, _ := remapLocks.LoadOrStore(r.cfg.Namespace+"/"+key, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	sn := r.client.SnapshotService(snapshotter)
	if _, err := sn.Stat(ctx, key); err == nil {
		return nil
	}
	ctx = leases.WithLease(ctx, blobLease)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := key + "-tmp-" + hex.EncodeToString(rnd[:])
	mounts, err := sn.Prepare(ctx, tmp, chain)
	if err != nil {
		return wrapErr(err, "prepare remapped snapshot of "+chain)
	}
	committed := false
	defer func() {
		if !committed {
			bg, cancel := r.bgCtx()
			_ = sn.Remove(bg, tmp)
			cancel()
		}
	}()
	if err := r.withTempMount(mounts, func(root string) error { return shiftOwners(root, h) }); err != nil {
		return fmt.Errorf("remap image %s into uid range %d+%d: %w", chain, h.UIDStart, h.UIDSize, err)
	}
	err = sn.Commit(ctx, key, tmp, snapshots.WithLabels(map[string]string{"tffs.remap.chain": chain}))
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return wrapErr(err, "commit remapped snapshot of "+chain)
	}
	committed = err == nil
	r.log.Info("image remapped into the uid range", "chain", chain, "snapshot", key)
	return nil
}

// withTempMount mounts mounts on a fresh directory under the state dir
// for fn.
func (r *Runtime) withTempMount(mounts []mount.Mount, fn func(root string) error) error {
	dir, err := os.MkdirTemp(mountDir(r.cfg.StateDir), "remap-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := mount.All(mounts, dir); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	defer func() {
		if err := mount.UnmountAll(dir, unix.MNT_DETACH); err != nil {
			r.log.Warn("unmount", "dir", dir, "err", err)
		}
	}()
	return fn(dir)
}

// shiftOwners adds h.UIDStart to the owner and group of every file under
// root (symlinks are not followed). The owners are read first and changed
// after, so hard links are shifted once. A uid or gid outside the range
// is an error (ErrInvalid).
func shiftOwners(root string, h Hardening) error {
	type entry struct {
		path     string
		uid, gid uint32
		mode     fs.FileMode
	}
	var all []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Uid >= h.UIDSize || st.Gid >= h.UIDSize {
			return fmt.Errorf("%s is owned by %d:%d, outside the user namespace's %d ids: %w",
				p[len(root):], st.Uid, st.Gid, h.UIDSize, ErrInvalid)
		}
		all = append(all, entry{p, st.Uid, st.Gid, fileMode(st.Mode)})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := os.Lchown(e.path, int(h.UIDStart+e.uid), int(h.UIDStart+e.gid)); err != nil {
			return err
		}
		// chown clears setuid and setgid: put them back.
		if e.mode&os.ModeSymlink == 0 && e.mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
			if err := os.Chmod(e.path, e.mode); err != nil {
				return err
			}
		}
	}
	return nil
}

package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// CleanupOrphans removes what a previous run left in the runtime's
// namespace: containers with their tasks and snapshots, active snapshots,
// leases (except the blob cache's), our network namespaces, temporary
// mounts and FIFOs. Images and blobs are kept. Containers created by this
// Runtime are left alone; call it at node start, before Create. It returns
// how many containers it removed.
func (r *Runtime) CleanupOrphans(ctx context.Context) (int, error) {
	ctx = r.nsCtx(ctx)
	r.mu.Lock()
	keep := map[string]bool{}
	for id := range r.containers {
		keep[id] = true
	}
	for id := range r.creating {
		keep[id] = true
	}
	r.mu.Unlock()

	var errs []error
	ctrs, err := r.client.Containers(ctx)
	if err != nil {
		return 0, wrapErr(err, "list containers")
	}
	n := 0
	for _, ctr := range ctrs {
		if keep[ctr.ID()] {
			continue
		}
		if t, err := ctr.Task(ctx, nil); err == nil {
			if _, err := t.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete task %s: %w", ctr.ID(), err))
			}
		}
		if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container %s: %w", ctr.ID(), err))
			continue
		}
		n++
		r.log.Info("removed orphan container", "id", ctr.ID())
	}

	sn := r.client.SnapshotService(snapshotter)
	var stale []string
	if err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind != snapshots.KindCommitted && !keep[info.Name] {
			stale = append(stale, info.Name)
		}
		return nil
	}); err != nil {
		errs = append(errs, fmt.Errorf("walk snapshots: %w", err))
	}
	for _, key := range stale {
		if err := sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove snapshot %s: %w", key, err))
		}
	}

	ls := r.client.LeasesService()
	if all, err := ls.List(ctx); err == nil {
		for _, l := range all {
			if l.ID != blobLease {
				if err := ls.Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("delete lease %s: %w", l.ID, err))
				}
			}
		}
	} else {
		errs = append(errs, fmt.Errorf("list leases: %w", err))
	}

	names, err := listNetns(r.netnsPrefix())
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range names {
		if !keep[name[len(r.netnsPrefix()):]] {
			if err := deleteNetns(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, cleanDir(mountDir(r.cfg.StateDir), true))
	if len(keep) == 0 {
		errs = append(errs, cleanDir(fifoDir(r.cfg.StateDir), false))
	}
	return n, errors.Join(errs...)
}

// cleanDir removes every entry of dir, unmounting each first if unmount.
func cleanDir(dir string, unmount bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if unmount {
			if err := mount.UnmountAll(p, unix.MNT_DETACH); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

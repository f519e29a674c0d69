package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/errdefs"
)

// File is a pre-boot file: written into the container's root before its
// first process starts (and again after Reset).
type File struct {
	Path string      // absolute container path
	Mode os.FileMode // permission bits; 0 = 0644
	Data []byte
}

// Spec describes a container to create.
type Spec struct {
	ID       string   // unique container id (also the snapshot key and part of the netns name)
	Image    string   // image Name given to EnsureImage
	Args     []string // nil = image Entrypoint+Cmd
	Env      []string // KEY=VALUE, override/extend the image env
	Cwd      string   // "" = image WorkingDir
	User     string   // "" = image User
	Hostname string
	CPUs     float64 // 0 = unlimited (cgroup CPU quota)
	Memory   int64   // bytes, 0 = unlimited
	Files    []File  // pre-boot files
	// Asleep starts the container with no main workload: PID 1 is
	// `sleep 2147483647` from the image (the image must contain a sleep
	// that accepts that argument, e.g. busybox or coreutils).
	Asleep bool
	// Relax loosens the runtime's Hardening for this container (trusted
	// images only; the caller decides who may ask).
	Relax Relax

	Mounts []Mount // volumes bind-mounted into the container
}

// Container is a containerd container created by a Runtime. Its methods
// are safe for concurrent use.
type Container struct {
	r     *Runtime
	id    string
	spec  Spec
	netns string
	ctr   client.Container
	// manifest is the digest of the image manifest the container was
	// created from; a reset prepares its snapshot from exactly that.
	manifest string
	owner    owner // host ids of the container's root: what the node creates in it is theirs

	dirRoot string // set for DirFiles: the file methods work on this node directory

	mu        sync.Mutex // lifecycle; also held during file ops on a temporary mount
	boot      *boot      // current (or last) main task, nil before the first Start
	destroyed bool

	execSeq atomic.Uint64
}

// Create creates a container (network namespace with loopback up,
// overlayfs snapshot of the image, containerd container, pre-boot files)
// without starting it. On failure nothing is left behind.
func (r *Runtime) Create(ctx context.Context, spec Spec) (_ *Container, retErr error) {
	if err := identifiers.Validate(spec.ID); err != nil {
		return nil, fmt.Errorf("container id: %w: %w", ErrInvalid, err)
	}
	if spec.Image == "" {
		return nil, fmt.Errorf("container %s: no image: %w", spec.ID, ErrInvalid)
	}
	for _, f := range spec.Files {
		if _, _, err := splitPath(f.Path); err != nil {
			return nil, err
		}
	}
	if err := spec.Relax.Check(); err != nil {
		return nil, fmt.Errorf("container %s: %w", spec.ID, err)
	}
	if err := checkMounts(spec); err != nil {
		return nil, fmt.Errorf("container %s: %w", spec.ID, err)
	}
	r.mu.Lock()
	if _, ok := r.containers[spec.ID]; ok || r.creating[spec.ID] {
		r.mu.Unlock()
		return nil, fmt.Errorf("container %s: %w", spec.ID, ErrExists)
	}
	r.creating[spec.ID] = true
	r.mu.Unlock()
	c := &Container{r: r, id: spec.ID, spec: spec, netns: r.netnsName(spec.ID), owner: r.rootOwner(spec)}
	defer func() {
		r.mu.Lock()
		delete(r.creating, spec.ID)
		if retErr == nil {
			r.containers[spec.ID] = c
		}
		r.mu.Unlock()
	}()

	ctx = r.nsCtx(ctx)
	img, err := r.client.GetImage(ctx, spec.Image)
	if err != nil {
		return nil, wrapErr(err, "image "+spec.Image)
	}
	c.manifest = img.Target().Digest.String()
	// The namespaces are made while containerd prepares the container
	// (a user namespace costs a short-lived process, see userns.go).
	nsDone := make(chan error, 1)
	go func() {
		if spec.Relax.HostUsers {
			nsDone <- createNetns(c.netns)
		} else {
			nsDone <- createUserNetns(c.netns, r.hard)
		}
	}()
	waitNetns := sync.OnceValue(func() error { return <-nsDone })
	defer func() {
		if retErr != nil && waitNetns() == nil {
			_ = deleteNetns(c.netns)
		}
	}()
	lctx, done, err := r.client.WithLease(ctx)
	if err != nil {
		return nil, wrapErr(err, "lease")
	}
	defer done(r.nsCtx(context.Background()))
	if err := r.prepareRoot(lctx, img, spec, spec.ID); err != nil {
		return nil, err
	}
	ctr, err := r.client.NewContainer(lctx, spec.ID,
		client.WithImage(img),
		client.WithSnapshotter(snapshotter),
		client.WithSnapshot(spec.ID),
		client.WithContainerLabels(map[string]string{"tffs.netns": c.netns}),
		client.WithNewSpec(r.specOpts(img, spec, c.netns)...),
	)
	if err != nil {
		bg, cancel := r.bgCtx()
		_ = r.client.SnapshotService(snapshotter).Remove(bg, spec.ID)
		cancel()
		return nil, wrapErr(err, "create container "+spec.ID)
	}
	c.ctr = ctr
	defer func() {
		if retErr != nil {
			bg, cancel := r.bgCtx()
			defer cancel()
			_ = ctr.Delete(bg, client.WithSnapshotCleanup)
		}
	}()
	if err := waitNetns(); err != nil {
		return nil, err
	}
	if oci, err := ctr.Spec(ctx); err != nil || oci.Process == nil || len(oci.Process.Args) == 0 {
		return nil, fmt.Errorf("container %s: no command (image has no Entrypoint/Cmd and Args is empty): %w", spec.ID, ErrInvalid)
	}
	if err := c.writePreboot(ctx); err != nil {
		return nil, err
	}
	r.log.Info("container created", "id", spec.ID, "image", spec.Image, "netns", c.netns)
	return c, nil
}

// writePreboot writes the spec's pre-boot files into the (not running)
// container's snapshot. c.mu is held, or c is not yet published.
func (c *Container) writePreboot(ctx context.Context) error {
	if len(c.spec.Files) == 0 {
		return nil
	}
	return c.withMountedRoot(ctx, func(root *os.File) error {
		for _, f := range c.spec.Files {
			mode := f.Mode
			if mode.IsDir() {
				if err := mkdirAt(root, f.Path, mode, c.owner); err != nil {
					return fmt.Errorf("pre-boot directory %s: %w", f.Path, err)
				}
				continue
			}
			if mode == 0 {
				mode = 0o644
			}
			if err := putAt(ctx, root, f.Path, mode, bytes.NewReader(f.Data), c.owner); err != nil {
				return fmt.Errorf("pre-boot file %s: %w", f.Path, err)
			}
		}
		return nil
	})
}

// ID returns the container id.
func (c *Container) ID() string { return c.id }

// NetNSName returns the name of the container's network namespace (a
// file under /run/netns, as used by `ip netns`).
func (c *Container) NetNSName() string { return c.netns }

// NetNSPath returns the path of the container's network namespace.
func (c *Container) NetNSPath() string { return netnsDir + "/" + c.netns }

// Destroy kills the main task and any exec processes, deletes the task,
// the container and its snapshot, and removes the network namespace and
// FIFOs. Destroying a destroyed container is a no-op.
func (c *Container) Destroy(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return nil
	}
	var errs []error
	if err := c.stopBoot(ctx, 0); err != nil {
		errs = append(errs, err)
	}
	bg, cancel := c.r.bgCtx()
	defer cancel()
	// A task may exist that we do not track (e.g. Start failed half-way).
	if t, err := c.ctr.Task(bg, nil); err == nil {
		if _, err := t.Delete(bg, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task: %w", err))
		}
	}
	if err := c.ctr.Delete(bg, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete container: %w", err))
	}
	if err := deleteNetns(c.netns); err != nil {
		errs = append(errs, err)
	}
	c.destroyed = true
	c.r.mu.Lock()
	if c.r.containers[c.id] == c {
		delete(c.r.containers, c.id)
	}
	c.r.mu.Unlock()
	c.r.log.Info("container destroyed", "id", c.id)
	if len(errs) > 0 {
		return fmt.Errorf("destroy %s: %w", c.id, errors.Join(errs...))
	}
	return nil
}

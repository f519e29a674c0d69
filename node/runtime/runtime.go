package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// snapshotter is the containerd snapshotter every image and container uses.
const snapshotter = "overlayfs"

// blobLease is the lease that keeps every blob written by WriteBlob (and
// the manifests and configs of EnsureImage) from containerd's garbage
// collector: the content store is the node's layer cache.
const blobLease = "tffs-blobs"

// StopGrace is how long Reboot, Reset and Destroy wait after SIGTERM before
// they send SIGKILL to a container's main task.
var StopGrace = 2 * time.Second

// Config configures a Runtime.
type Config struct {
	Socket    string       // containerd socket
	Namespace string       // containerd namespace, e.g. "tffs-<node>"
	StateDir  string       // node-private dir (temporary mounts, FIFOs)
	Hardening Hardening    // confinement of every container; zero = defaults
	Log       *slog.Logger // nil = slog.Default()
}

// Runtime runs containers in one containerd namespace. It is safe for
// concurrent use.
type Runtime struct {
	cfg    Config
	hard   Hardening // cfg.Hardening with defaults
	client *client.Client
	log    *slog.Logger

	imageMu sync.Mutex // serialises EnsureImage

	mu         sync.Mutex
	containers map[string]*Container
	creating   map[string]bool // ids reserved by a Create in progress
}

// New connects to containerd and prepares the namespace and state dir.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Socket == "" || cfg.StateDir == "" {
		return nil, fmt.Errorf("runtime config needs Socket and StateDir: %w", ErrInvalid)
	}
	if err := identifiers.Validate(cfg.Namespace); err != nil {
		return nil, fmt.Errorf("namespace %q: %w: %w", cfg.Namespace, ErrInvalid, err)
	}
	hard, err := cfg.Hardening.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.StateDir, mountDir(cfg.StateDir), fifoDir(cfg.StateDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	c, err := client.New(cfg.Socket, client.WithDefaultNamespace(cfg.Namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.Socket, err)
	}
	r := &Runtime{cfg: cfg, hard: hard, client: c, log: cfg.Log.With("namespace", cfg.Namespace), containers: map[string]*Container{}, creating: map[string]bool{}}
	ctx = r.nsCtx(ctx)
	if _, err := c.LeasesService().Create(ctx, leases.WithID(blobLease)); err != nil && !errdefs.IsAlreadyExists(err) {
		c.Close()
		return nil, fmt.Errorf("create blob lease: %w", err)
	}
	return r, nil
}

// Close closes the containerd connection. It does not stop containers;
// destroy them first (or let the next CleanupOrphans remove them).
func (r *Runtime) Close() error { return r.client.Close() }

// Get returns the container with the given id created by this Runtime.
func (r *Runtime) Get(id string) (*Container, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	return c, ok
}

// nsCtx returns ctx scoped to the runtime's containerd namespace.
func (r *Runtime) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// bgCtx is a namespaced context for cleanup work that must not be
// cancelled with the caller's context.
func (r *Runtime) bgCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.nsCtx(context.Background()), time.Minute)
}

func mountDir(state string) string { return filepath.Join(state, "mnt") }
func fifoDir(state string) string  { return filepath.Join(state, "fifo") }

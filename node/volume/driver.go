// Package volume keeps a node's persistent volumes: directories that outlive
// containers and sessions, with snapshots, on one of three storage drivers
// (btrfs subvolumes, zfs datasets, or plain directories). A volume is named
// by an id the master chose; the driver never sees account or volume names.
package volume

import (
	"context"
	"fmt"
	"io"
	"regexp"

	"github.com/tffs/tffs/protocol"
)

// Driver stores volumes and their snapshots. Implementations are safe for
// use by one caller at a time per volume (the Manager serialises).
type Driver interface {
	// Name is the driver's name: "dir", "btrfs" or "zfs".
	Name() string
	// Create makes an empty volume (ErrExists if id is taken).
	Create(ctx context.Context, id string) error
	// Destroy removes the volume and every snapshot of it; nothing is left.
	Destroy(ctx context.Context, id string) error
	// Snapshot takes a read-only snapshot of the volume's current data
	// and returns its name; names sort in the order they were taken.
	Snapshot(ctx context.Context, id string) (string, error)
	// Snapshots lists the volume's snapshots, oldest first.
	Snapshots(ctx context.Context, id string) ([]string, error)
	// Rollback brings the volume back to its last snapshot (ErrNotFound
	// if it has none). Nobody may have the volume mounted.
	Rollback(ctx context.Context, id string) error
	// Path is the directory holding the volume's data, to bind-mount.
	Path(id string) string
	// Usage is the bytes the volume's data uses.
	Usage(ctx context.Context, id string) (int64, error)
	// List names the volumes the driver holds.
	List(ctx context.Context) ([]string, error)
	// Send writes a stream of the volume's current data (no snapshots) to w.
	Send(ctx context.Context, id string, w io.Writer) error
	// Receive makes volume id from a stream Send wrote (ErrExists if id is
	// taken); on failure nothing of id is left.
	Receive(ctx context.Context, id string, r io.Reader) error
}

// validID is what a volume id may be: the master makes them.
var validID = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$`)

// CheckID refuses an id that is not a plain name.
func CheckID(id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("volume id %q: %w", id, protocol.ErrInvalid)
	}
	return nil
}

// Config chooses and configures a driver.
type Config struct {
	Driver string // "dir" (default), "btrfs" or "zfs"
	// Dir is where dir and btrfs keep volumes (for btrfs, a directory on
	// a btrfs filesystem).
	Dir string
	// Dataset is the zfs dataset under which volumes are made, e.g.
	// "tank/tffs" (it is created if missing).
	Dataset string
}

// Open makes the driver cfg names.
func Open(cfg Config) (Driver, error) {
	switch cfg.Driver {
	case "", "dir":
		return NewDir(cfg.Dir)
	case "btrfs":
		return NewBtrfs(cfg.Dir)
	case "zfs":
		return NewZFS(cfg.Dataset)
	}
	return nil, fmt.Errorf("volume driver %q (dir, btrfs or zfs): %w", cfg.Driver, protocol.ErrInvalid)
}

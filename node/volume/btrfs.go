package volume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/tffs/tffs/protocol"
)

// btrfsDriver keeps each volume as a subvolume root/<id>/data and its
// snapshots as read-only subvolumes root/<id>/snaps/<name>, through the
// btrfs command. root must be on a btrfs filesystem.
type btrfsDriver struct{ dirDriver }

// btrfsMagic is statfs's f_type of a btrfs filesystem.
const btrfsMagic = 0x9123683E

// NewBtrfs makes the btrfs driver, keeping volumes under root.
func NewBtrfs(root string) (Driver, error) {
	if root == "" {
		return nil, fmt.Errorf("btrfs driver: no directory: %w", protocol.ErrInvalid)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return nil, err
	}
	if st.Type != btrfsMagic {
		return nil, fmt.Errorf("btrfs driver: %s is not on a btrfs filesystem: %w", root, protocol.ErrInvalid)
	}
	if _, err := exec.LookPath("btrfs"); err != nil {
		return nil, fmt.Errorf("btrfs driver: %w", err)
	}
	return &btrfsDriver{dirDriver{root: root}}, nil
}

func (d *btrfsDriver) Name() string { return "btrfs" }

// btrfs runs the btrfs command.
func btrfs(ctx context.Context, stdin io.Reader, stdout io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "btrfs", args...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	var stderr limitedBuf
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("btrfs %v: %v: %s", args, err, bytes.TrimSpace(stderr.b))
	}
	return nil
}

func (d *btrfsDriver) Create(ctx context.Context, id string) error {
	return makeVolumeDirs(id, d.base(id), d.snaps(id), func() error {
		return btrfs(ctx, nil, nil, "subvolume", "create", d.Path(id))
	})
}

// deleteSubvolumes deletes the subvolumes among paths that exist.
func deleteSubvolumes(ctx context.Context, paths ...string) error {
	var errs []error
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		errs = append(errs, btrfs(ctx, nil, nil, "subvolume", "delete", p))
	}
	return errors.Join(errs...)
}

func (d *btrfsDriver) Destroy(ctx context.Context, id string) error {
	if err := d.exists(id); err != nil {
		return err
	}
	subs := []string{d.Path(id), filepath.Join(d.base(id), ".old"), filepath.Join(d.base(id), ".send")}
	if ents, err := os.ReadDir(d.snaps(id)); err == nil {
		for _, e := range ents {
			subs = append(subs, filepath.Join(d.snaps(id), e.Name()))
		}
	}
	if err := deleteSubvolumes(ctx, subs...); err != nil {
		return err
	}
	return os.RemoveAll(d.base(id))
}

func (d *btrfsDriver) Snapshot(ctx context.Context, id string) (string, error) {
	if err := d.exists(id); err != nil {
		return "", err
	}
	name := snapName()
	if err := btrfs(ctx, nil, nil, "subvolume", "snapshot", "-r", d.Path(id), filepath.Join(d.snaps(id), name)); err != nil {
		return "", err
	}
	return name, nil
}

// Rollback swaps in a writable snapshot of the last snapshot for the data.
func (d *btrfsDriver) Rollback(ctx context.Context, id string) error {
	snaps, err := d.Snapshots(ctx, id)
	if err != nil {
		return err
	}
	if len(snaps) == 0 {
		return fmt.Errorf("volume %s has no snapshot: %w", id, protocol.ErrNotFound)
	}
	old := filepath.Join(d.base(id), ".old")
	if err := deleteSubvolumes(ctx, old); err != nil {
		return err
	}
	if err := os.Rename(d.Path(id), old); err != nil {
		return err
	}
	if err := btrfs(ctx, nil, nil, "subvolume", "snapshot", filepath.Join(d.snaps(id), snaps[len(snaps)-1]), d.Path(id)); err != nil {
		os.Rename(old, d.Path(id))
		return err
	}
	return deleteSubvolumes(ctx, old)
}

func (d *btrfsDriver) Usage(ctx context.Context, id string) (int64, error) {
	if err := d.exists(id); err != nil {
		return 0, err
	}
	return duBytes(d.Path(id))
}

// Send takes a read-only snapshot of the data and streams it with btrfs
// send; the snapshot is deleted afterwards.
func (d *btrfsDriver) Send(ctx context.Context, id string, w io.Writer) error {
	if err := d.exists(id); err != nil {
		return err
	}
	snap := filepath.Join(d.base(id), ".send")
	if err := deleteSubvolumes(ctx, snap); err != nil {
		return err
	}
	if err := btrfs(ctx, nil, nil, "subvolume", "snapshot", "-r", d.Path(id), snap); err != nil {
		return err
	}
	defer deleteSubvolumes(context.WithoutCancel(ctx), snap)
	return btrfs(ctx, nil, w, "send", "-q", snap)
}

// Receive runs btrfs receive into root/<id>/recv (which makes the
// read-only subvolume .send), then makes the writable data from it.
func (d *btrfsDriver) Receive(ctx context.Context, id string, r io.Reader) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if err := os.Mkdir(d.base(id), 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("volume %s: %w", id, protocol.ErrExists)
		}
		return err
	}
	recv := filepath.Join(d.base(id), "recv")
	fail := func(err error) error {
		cleanup := context.WithoutCancel(ctx)
		deleteSubvolumes(cleanup, filepath.Join(recv, ".send"), d.Path(id))
		os.RemoveAll(d.base(id))
		return err
	}
	if err := os.Mkdir(recv, 0o700); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(d.snaps(id), 0o700); err != nil {
		return fail(err)
	}
	// -e: stop at the end marker, so a stream cut short is an error.
	if err := btrfs(ctx, r, nil, "receive", "-e", recv); err != nil {
		return fail(err)
	}
	if err := btrfs(ctx, nil, nil, "subvolume", "snapshot", filepath.Join(recv, ".send"), d.Path(id)); err != nil {
		return fail(err)
	}
	if err := deleteSubvolumes(ctx, filepath.Join(recv, ".send")); err != nil {
		return fail(err)
	}
	return os.Remove(recv)
}

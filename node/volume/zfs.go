package volume

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"

	zfs "github.com/mistifyio/go-zfs/v3"

	"github.com/tffs/tffs/protocol"
)

// zfsDriver keeps each volume as a filesystem dataset <parent>/<id>
// (mounted where zfs puts it) and its snapshots as <parent>/<id>@<name>,
// through github.com/mistifyio/go-zfs (the zfs command).
type zfsDriver struct{ parent string }

// NewZFS makes the zfs driver, keeping volumes under dataset parent
// (created when missing).
func NewZFS(parent string) (Driver, error) {
	if parent == "" || strings.ContainsAny(parent, "@# ") {
		return nil, fmt.Errorf("zfs driver: dataset %q: %w", parent, protocol.ErrInvalid)
	}
	if _, err := exec.LookPath("zfs"); err != nil {
		return nil, fmt.Errorf("zfs driver: %w", err)
	}
	if _, err := zfs.GetDataset(parent); err != nil {
		if _, err := zfs.CreateFilesystem(parent, nil); err != nil {
			return nil, fmt.Errorf("zfs driver: create %s: %w", parent, err)
		}
	}
	return &zfsDriver{parent: parent}, nil
}

func (d *zfsDriver) Name() string             { return "zfs" }
func (d *zfsDriver) dataset(id string) string { return d.parent + "/" + id }

func (d *zfsDriver) get(id string) (*zfs.Dataset, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	ds, err := zfs.GetDataset(d.dataset(id))
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", id, protocol.ErrNotFound)
	}
	return ds, nil
}

func (d *zfsDriver) Create(ctx context.Context, id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if _, err := zfs.GetDataset(d.dataset(id)); err == nil {
		return fmt.Errorf("volume %s: %w", id, protocol.ErrExists)
	}
	_, err := zfs.CreateFilesystem(d.dataset(id), nil)
	return err
}

func (d *zfsDriver) Destroy(ctx context.Context, id string) error {
	ds, err := d.get(id)
	if err != nil {
		return err
	}
	return ds.Destroy(zfs.DestroyRecursive | zfs.DestroyForceUmount)
}

func (d *zfsDriver) Snapshot(ctx context.Context, id string) (string, error) {
	ds, err := d.get(id)
	if err != nil {
		return "", err
	}
	name := snapName()
	if _, err := ds.Snapshot(name, false); err != nil {
		return "", err
	}
	return name, nil
}

// snapshots are the volume's snapshot datasets, oldest first.
func (d *zfsDriver) snapshots(id string) ([]*zfs.Dataset, error) {
	ds, err := d.get(id)
	if err != nil {
		return nil, err
	}
	all, err := ds.Snapshots()
	if err != nil {
		return nil, err
	}
	var out []*zfs.Dataset
	for _, s := range all {
		if _, name, ok := strings.Cut(s.Name, "@"); ok && !strings.HasPrefix(name, "send") {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessSnap(snapOf(out[i]), snapOf(out[j])) })
	return out, nil
}

func snapOf(s *zfs.Dataset) string { _, n, _ := strings.Cut(s.Name, "@"); return n }

func (d *zfsDriver) Snapshots(ctx context.Context, id string) ([]string, error) {
	snaps, err := d.snapshots(id)
	var out []string
	for _, s := range snaps {
		out = append(out, snapOf(s))
	}
	return out, err
}

func (d *zfsDriver) Rollback(ctx context.Context, id string) error {
	snaps, err := d.snapshots(id)
	if err != nil {
		return err
	}
	if len(snaps) == 0 {
		return fmt.Errorf("volume %s has no snapshot: %w", id, protocol.ErrNotFound)
	}
	return snaps[len(snaps)-1].Rollback(false)
}

func (d *zfsDriver) Path(id string) string {
	ds, err := zfs.GetDataset(d.dataset(id))
	if err != nil {
		return ""
	}
	return ds.Mountpoint
}

func (d *zfsDriver) Usage(ctx context.Context, id string) (int64, error) {
	ds, err := d.get(id)
	if err != nil {
		return 0, err
	}
	return int64(ds.Referenced), nil
}

func (d *zfsDriver) List(ctx context.Context) ([]string, error) {
	parent, err := zfs.GetDataset(d.parent)
	if err != nil {
		return nil, err
	}
	kids, err := parent.Children(1)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range kids {
		if k.Type == zfs.DatasetFilesystem {
			out = append(out, strings.TrimPrefix(k.Name, d.parent+"/"))
		}
	}
	return out, nil
}

// Send snapshots the data as @send and streams it with zfs send.
func (d *zfsDriver) Send(ctx context.Context, id string, w io.Writer) error {
	ds, err := d.get(id)
	if err != nil {
		return err
	}
	if old, err := zfs.GetDataset(d.dataset(id) + "@send"); err == nil {
		old.Destroy(zfs.DestroyDefault)
	}
	snap, err := ds.Snapshot("send", false)
	if err != nil {
		return err
	}
	defer snap.Destroy(zfs.DestroyDefault)
	return snap.SendSnapshot(w)
}

// Receive runs zfs receive into <parent>/<id>, then drops the @send
// snapshot it brought.
func (d *zfsDriver) Receive(ctx context.Context, id string, r io.Reader) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if _, err := zfs.GetDataset(d.dataset(id)); err == nil {
		return fmt.Errorf("volume %s: %w", id, protocol.ErrExists)
	}
	if _, err := zfs.ReceiveSnapshot(r, d.dataset(id)+"@send"); err != nil {
		if ds, gerr := zfs.GetDataset(d.dataset(id)); gerr == nil {
			ds.Destroy(zfs.DestroyRecursive | zfs.DestroyForceUmount)
		}
		return err
	}
	if s, err := zfs.GetDataset(d.dataset(id) + "@send"); err == nil {
		s.Destroy(zfs.DestroyDefault)
	}
	return nil
}

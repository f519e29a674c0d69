package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/tffs/tffs/protocol"
)

// dirDriver keeps each volume as root/<id>/data and its snapshots as full
// copies under root/<id>/snaps/<name>. A snapshot or rollback costs a copy.
type dirDriver struct{ root string }

// NewDir makes the dir driver, keeping volumes under root.
func NewDir(root string) (Driver, error) {
	if root == "" {
		return nil, fmt.Errorf("dir driver: no directory: %w", protocol.ErrInvalid)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	return &dirDriver{root: root}, nil
}

func (d *dirDriver) Name() string           { return "dir" }
func (d *dirDriver) base(id string) string  { return filepath.Join(d.root, id) }
func (d *dirDriver) Path(id string) string  { return filepath.Join(d.root, id, "data") }
func (d *dirDriver) snaps(id string) string { return filepath.Join(d.root, id, "snaps") }

func (d *dirDriver) Create(ctx context.Context, id string) error {
	return makeVolumeDirs(id, d.base(id), d.snaps(id), func() error { return os.Mkdir(d.Path(id), 0o755) })
}

// makeVolumeDirs makes a new volume's base directory (ErrExists when it
// is there) with its snapshots directory, then its data by mkData; a
// failure leaves nothing.
func makeVolumeDirs(id, base, snaps string, mkData func() error) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if err := os.Mkdir(base, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("volume %s: %w", id, protocol.ErrExists)
		}
		return err
	}
	if err := os.Mkdir(snaps, 0o700); err != nil {
		os.RemoveAll(base)
		return err
	}
	if err := mkData(); err != nil {
		os.RemoveAll(base)
		return err
	}
	return nil
}

func (d *dirDriver) exists(id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if _, err := os.Stat(d.Path(id)); err != nil {
		return fmt.Errorf("volume %s: %w", id, protocol.ErrNotFound)
	}
	return nil
}

func (d *dirDriver) Destroy(ctx context.Context, id string) error {
	if err := d.exists(id); err != nil {
		return err
	}
	return os.RemoveAll(d.base(id))
}

// snapName is a name that sorts by time.
func snapName() string { return strconv.FormatInt(time.Now().UnixNano(), 10) }

func (d *dirDriver) Snapshot(ctx context.Context, id string) (string, error) {
	if err := d.exists(id); err != nil {
		return "", err
	}
	name := snapName()
	tmp := filepath.Join(d.snaps(id), "."+name)
	if err := copyTree(ctx, d.Path(id), tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(d.snaps(id), name)); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return name, nil
}

func (d *dirDriver) Snapshots(ctx context.Context, id string) ([]string, error) {
	if err := d.exists(id); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(d.snaps(id))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Name()[0] != '.' {
			out = append(out, e.Name())
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessSnap(out[i], out[j]) })
	return out, nil
}

// lessSnap orders snapshot names (decimal times) by value.
func lessSnap(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// Rollback copies the last snapshot aside, then swaps it in for the data.
func (d *dirDriver) Rollback(ctx context.Context, id string) error {
	snaps, err := d.Snapshots(ctx, id)
	if err != nil {
		return err
	}
	if len(snaps) == 0 {
		return fmt.Errorf("volume %s has no snapshot: %w", id, protocol.ErrNotFound)
	}
	tmp := filepath.Join(d.base(id), ".rollback")
	os.RemoveAll(tmp)
	if err := copyTree(ctx, filepath.Join(d.snaps(id), snaps[len(snaps)-1]), tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	old := filepath.Join(d.base(id), ".old")
	os.RemoveAll(old)
	if err := os.Rename(d.Path(id), old); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, d.Path(id)); err != nil {
		os.Rename(old, d.Path(id))
		return err
	}
	return os.RemoveAll(old)
}

func (d *dirDriver) Usage(ctx context.Context, id string) (int64, error) {
	if err := d.exists(id); err != nil {
		return 0, err
	}
	return duBytes(d.Path(id))
}

func (d *dirDriver) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(d.root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && validID.MatchString(e.Name()) {
			if _, err := os.Stat(d.Path(e.Name())); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

func (d *dirDriver) Send(ctx context.Context, id string, w io.Writer) error {
	if err := d.exists(id); err != nil {
		return err
	}
	return tarTree(ctx, d.Path(id), w)
}

func (d *dirDriver) Receive(ctx context.Context, id string, r io.Reader) error {
	if err := d.Create(ctx, id); err != nil {
		return err
	}
	if err := untarTree(ctx, r, d.Path(id)); err != nil {
		os.RemoveAll(d.base(id))
		return err
	}
	return nil
}

// copyTree copies src to dst (which must not exist) keeping owners, modes,
// times, links and hard links: cp -a, which never follows a symlink.
func copyTree(ctx context.Context, src, dst string) error {
	out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copy %s: %v: %s", src, err, out)
	}
	return nil
}

// duBytes sums the sizes of the regular files under dir, without
// following links.
func duBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// tarTree writes dir as a tar stream (GNU tar: owners, modes, links, sparse
// files kept).
func tarTree(ctx context.Context, dir string, w io.Writer) error {
	cmd := exec.CommandContext(ctx, "tar", "-C", dir, "--numeric-owner", "--xattrs", "-cf", "-", ".")
	cmd.Stdout = w
	var stderr limitedBuf
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("tar %s: %v: %s", dir, err, stderr.b)
	}
	return nil
}

// untarTree extracts a tarTree stream into dir, as root keeping owners;
// entries that would leave dir are refused by GNU tar.
func untarTree(ctx context.Context, r io.Reader, dir string) error {
	cmd := exec.CommandContext(ctx, "tar", "-C", dir, "--numeric-owner", "--xattrs", "--same-owner", "-xpf", "-")
	cmd.Stdin = r
	var stderr limitedBuf
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("untar into %s: %v: %s", dir, err, stderr.b)
	}
	return nil
}

// limitedBuf keeps the first 4 KiB written to it.
type limitedBuf struct{ b []byte }

func (l *limitedBuf) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

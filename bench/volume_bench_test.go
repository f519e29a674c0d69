package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/node/volume"
	"github.com/tffs/tffs/sdk"
)

// volumeMB is the size of the volume benchmarks' data (default 1024 MB;
// TFFS_BENCH_VOLUME_MB for a quick run). Each figure is measured once per
// run (go test calls a benchmark more than once: the result is kept).
func volumeMB() int {
	if n, err := strconv.Atoi(os.Getenv("TFFS_BENCH_VOLUME_MB")); err == nil && n > 0 {
		return n
	}
	return 1024
}

var volumeIO = struct {
	sync.Once
	vol, own time.Duration
	err      error
}{}

// BenchmarkVolumeWriteRead: write (fsync'd) and read back volumeMB inside
// a container, on a mounted volume (dir driver) against the container's
// own filesystem (overlayfs), best of two alternating rounds. Aim: ratio
// ≤ 1/0.9.
func BenchmarkVolumeWriteRead(b *testing.B) {
	volumeIO.Do(func() {
		env := testenv.Start(b)
		loc := env.Connect(b)
		ctx := context.Background()
		vol, err := loc.CreateVolume(ctx, "bench")
		if err != nil {
			volumeIO.err = err
			return
		}
		ctr, err := loc.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
		if err != nil {
			volumeIO.err = err
			return
		}
		defer ctr.Destroy(ctx)
		timed := func(dir string) (time.Duration, error) {
			script := fmt.Sprintf("dd if=/dev/zero of=%[1]s/x bs=1M count=%[2]d conv=fsync 2>/dev/null && dd if=%[1]s/x of=/dev/null bs=1M 2>/dev/null && rm %[1]s/x", dir, volumeMB())
			t0 := time.Now()
			if _, code, err := ctr.Run(ctx, "sh", "-c", script); err != nil || code != 0 {
				return 0, fmt.Errorf("%s: code %d %v", script, code, err)
			}
			return time.Since(t0), nil
		}
		// Alternating rounds, the best of each: the machine's other load
		// and its page cache weigh on whichever runs first.
		volumeIO.vol, volumeIO.own = time.Hour, time.Hour
		for range 2 {
			for _, r := range []struct {
				dir  string
				best *time.Duration
			}{{"/tmp", &volumeIO.own}, {"/data", &volumeIO.vol}} {
				d, err := timed(r.dir)
				if err != nil {
					volumeIO.err = err
					return
				}
				*r.best = min(*r.best, d)
			}
		}
	})
	if volumeIO.err != nil {
		b.Fatal(volumeIO.err)
	}
	report(b, fmt.Sprintf("volume write+read %d MB (vs own fs)", volumeMB()), volumeIO.vol, volumeIO.own)
}

var volumeSnap = struct {
	sync.Once
	snap, roll map[string]time.Duration
	err        error
}{snap: map[string]time.Duration{}, roll: map[string]time.Duration{}}

// BenchmarkVolumeSnapshotRollback: snapshot and rollback latency of a
// volume holding volumeMB, per driver (btrfs against dir).
func BenchmarkVolumeSnapshotRollback(b *testing.B) {
	volumeSnap.Do(func() {
		dir, err := os.MkdirTemp("/tmp", "tffs-vb-")
		if err != nil {
			volumeSnap.err = err
			return
		}
		defer os.RemoveAll(dir)
		unmount, err := volume.MountBtrfsFile(filepath.Join(dir, "btrfs.img"), filepath.Join(dir, "mnt"), int64(volumeMB()+512)<<20*3)
		if err != nil {
			volumeSnap.err = err
			return
		}
		defer unmount()
		dd, _ := volume.NewDir(filepath.Join(dir, "dir"))
		bd, err := volume.NewBtrfs(filepath.Join(dir, "mnt", "v"))
		if err != nil {
			volumeSnap.err = err
			return
		}
		ctx := context.Background()
		for _, d := range []volume.Driver{dd, bd} {
			if err := d.Create(ctx, "v"); err != nil {
				volumeSnap.err = err
				return
			}
			out, err := exec.Command("dd", "if=/dev/urandom", "of="+filepath.Join(d.Path("v"), "data"), "bs=1M",
				fmt.Sprint("count=", volumeMB()), "conv=fsync").CombinedOutput()
			if err != nil {
				volumeSnap.err = fmt.Errorf("dd: %v: %s", err, out)
				return
			}
			t0 := time.Now()
			if _, err := d.Snapshot(ctx, "v"); err != nil {
				volumeSnap.err = err
				return
			}
			volumeSnap.snap[d.Name()] = time.Since(t0)
			t0 = time.Now()
			if err := d.Rollback(ctx, "v"); err != nil {
				volumeSnap.err = err
				return
			}
			volumeSnap.roll[d.Name()] = time.Since(t0)
			d.Destroy(ctx, "v")
		}
	})
	if volumeSnap.err != nil {
		b.Fatal(volumeSnap.err)
	}
	report(b, fmt.Sprintf("snapshot %d MB: btrfs vs dir", volumeMB()), volumeSnap.snap["btrfs"], volumeSnap.snap["dir"])
	report(b, fmt.Sprintf("rollback %d MB: btrfs vs dir", volumeMB()), volumeSnap.roll["btrfs"], volumeSnap.roll["dir"])
}

var volumeMove = struct {
	sync.Once
	move, put time.Duration
	err       error
}{}

// zeros is an io.Reader of n zero bytes.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > z.n {
		k = z.n
	}
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

// BenchmarkVolumeMove: move a volume holding volumeMB between two nodes
// of this host (dir driver, a tar stream through the master) against an
// SDK put of as many bytes into a container.
func BenchmarkVolumeMove(b *testing.B) {
	volumeMove.Do(func() {
		volumeMove.err = func() error {
			env := testenv.Start(b)
			loc := env.Connect(b)
			ctx := context.Background()
			n2, err := node.New(node.Config{Name: "n2", Dir: filepath.Join(env.Dir, "n2"), Master: env.Loc.Config.Master,
				MasterKey: env.Loc.Master.PublicKey(), Containerd: env.Loc.ContainerdSocket(), StatsInterval: time.Second})
			if err != nil {
				return err
			}
			if err := env.Loc.Master.AddNode("n2", n2.PublicKey()); err != nil {
				return err
			}
			nctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- n2.Run(nctx) }()
			defer func() { cancel(); <-done }()
			for {
				if _, err := loc.NodeNamed("n2"); err == nil {
					break
				}
				if _, err := loc.RefreshOffer(ctx); err != nil {
					return err
				}
				time.Sleep(50 * time.Millisecond)
			}
			vol, err := loc.CreateVolume(ctx, "mv", sdk.VolumeOnNode(env.Loc.Config.Name))
			if err != nil {
				return err
			}
			ctr, err := loc.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
			if err != nil {
				return err
			}
			script := fmt.Sprintf("dd if=/dev/urandom of=/data/x bs=1M count=%d conv=fsync 2>/dev/null", volumeMB())
			if _, code, err := ctr.Run(ctx, "sh", "-c", script); err != nil || code != 0 {
				return errors.Join(err, fmt.Errorf("dd: code %d", code))
			}
			t0 := time.Now()
			if err := ctr.PutReader(ctx, "/tmp/put", &zeros{n: int64(volumeMB()) << 20}, 0o644); err != nil {
				return err
			}
			volumeMove.put = time.Since(t0)
			if err := ctr.Destroy(ctx); err != nil {
				return err
			}
			t0 = time.Now()
			if err := vol.Move(ctx, "n2"); err != nil {
				return err
			}
			volumeMove.move = time.Since(t0)
			return nil
		}()
	})
	if volumeMove.err != nil {
		b.Fatal(volumeMove.err)
	}
	mbps := func(d time.Duration) float64 { return float64(volumeMB()) / d.Seconds() }
	report(b, fmt.Sprintf("move %d MB between nodes vs put", volumeMB()), volumeMove.move, volumeMove.put)
	fmt.Printf("%-34s move %8.1f MB/s   put %8.1f MB/s\n", "", mbps(volumeMove.move), mbps(volumeMove.put))
}

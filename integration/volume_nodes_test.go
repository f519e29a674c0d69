package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/node/volume"
	"github.com/tffs/tffs/sdk"
)

// extraNode is a node of its own (sharing the location's containerd, in
// its own namespace) with its own volume storage.
type extraNode struct {
	cfg    node.Config
	cancel context.CancelFunc
	done   chan error
}

// startExtraNode starts node name on env's master with volume config vc
// and waits until the session l sees it in the offer.
func startExtraNode(t *testing.T, env *testenv.Env, l *sdk.Location, name string, vc volume.Config) *extraNode {
	t.Helper()
	cfg := node.Config{Name: name, Dir: filepath.Join(env.Dir, name), Master: env.Loc.Config.Master,
		MasterKey: env.Loc.Master.PublicKey(), Containerd: env.Loc.ContainerdSocket(), Volumes: vc,
		StatsInterval: time.Second, Log: testenv.Logger(t).With("node", name)}
	x := &extraNode{cfg: cfg}
	x.start(t, l)
	t.Cleanup(x.stop)
	return x
}

func (x *extraNode) start(t *testing.T, l *sdk.Location) {
	t.Helper()
	n, err := node.New(x.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := addNodeKey(x.cfg.Name, n.PublicKey()); err != nil && !errors.Is(err, sdk.ErrExists) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel, x.done = cancel, make(chan error, 1)
	go func() { x.done <- n.Run(ctx) }()
	wctx := testenv.Ctx(t, time.Minute)
	waitFor(t, wctx, "node "+x.cfg.Name+" in the offer", func() bool {
		o, err := l.RefreshOffer(wctx)
		if err != nil {
			return false
		}
		for _, ni := range o.Nodes {
			if ni.Name == x.cfg.Name {
				return true
			}
		}
		return false
	})
}

func (x *extraNode) stop() {
	if x.cancel != nil {
		x.cancel()
		<-x.done
		x.cancel = nil
	}
}

// addNodeKey is set by the test to admit a node key on the master.
var addNodeKey func(name, key string) error

// btrfsStorage loop-mounts a btrfs file for a node's volumes.
func btrfsStorage(t *testing.T, dir string) (volume.Config, string) {
	t.Helper()
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("btrfs-progs missing (make deps)")
		}
		t.Skip("btrfs-progs missing (make deps)")
	}
	mnt := filepath.Join(dir, "mnt")
	unmount, err := volume.MountBtrfsFile(filepath.Join(dir, "btrfs.img"), mnt, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmount() })
	return volume.Config{Driver: "btrfs", Dir: filepath.Join(mnt, "volumes")}, mnt
}

func vsum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// TestVolumeNodes: a volume lives on one node: a container that mounts it
// goes there (any node picks it, another node is refused); snapshot,
// change and rollback on btrfs; the data survives a node restart; a move
// to another node (btrfs send/receive, tar for dir) brings it whole and
// leaves nothing on the source; a move to a node of another driver is
// refused; an interrupted move leaves the volume whole where it was.
func TestVolumeNodes(t *testing.T) {
	env := testenv.Start(t)
	addNodeKey = env.Loc.Master.AddNode
	ctx := testenv.Ctx(t, 5*time.Minute)
	a := env.Connect(t)
	vcA, mntA := btrfsStorage(t, filepath.Join(env.Dir, "bA"))
	vcB, mntB := btrfsStorage(t, filepath.Join(env.Dir, "bB"))
	nA := startExtraNode(t, env, a, "na", vcA)
	startExtraNode(t, env, a, "nb", vcB)
	startExtraNode(t, env, a, "nd", volume.Config{})

	vol, err := a.CreateVolume(ctx, "bv", sdk.VolumeOnNode("na"))
	if err != nil {
		t.Fatal(err)
	}
	if vol.Node != "na" {
		t.Fatalf("volume on %q", vol.Node)
	}
	home, err := a.NodeNamed(env.Loc.Config.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := home.SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data")); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "lives on node na") {
		t.Fatalf("spawn on another node than the volume's: %v", err)
	}
	c, err := a.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node != "na" {
		t.Fatalf("container placed on %q, not the volume's node", c.Node)
	}
	vrun(t, ctx, c, "echo one > /data/f && dd if=/dev/urandom of=/data/big bs=1M count=8 2>/dev/null")
	files := vol.Files()
	big, err := files.Fetch(ctx, "/big")
	if err != nil || len(big) != 8<<20 {
		t.Fatalf("fetch big: %d %v", len(big), err)
	}
	want := vsum(big)

	// Snapshot, change, rollback (btrfs).
	if err := vol.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	vrun(t, ctx, c, "echo two > /data/f && rm /data/big")
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := vol.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		files := vol.Files()
		if got, err := files.Fetch(ctx, "/f"); err != nil || string(got) != "one\n" {
			t.Fatalf("%s: f = %q %v", what, got, err)
		}
		if got, err := files.Fetch(ctx, "/big"); err != nil || vsum(got) != want {
			t.Fatalf("%s: big is not intact (%d bytes, %v)", what, len(got), err)
		}
	}
	check("after rollback")

	// A node restart keeps the data.
	nA.stop()
	nA.start(t, a)
	check("after the node restarted")

	// A move to a node of another driver is refused; to a btrfs node it
	// brings the volume whole and leaves nothing on the source.
	if err := vol.Move(ctx, "nd"); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("move btrfs → dir: %v", err)
	}
	if info, err := vol.Info(ctx); err != nil || info.Node != "na" || info.Moving {
		t.Fatalf("after a refused move: %+v %v", info, err)
	}
	check("after a refused move")
	if err := vol.Move(ctx, "nb"); err != nil {
		t.Fatal(err)
	}
	if vol.Node != "nb" {
		t.Fatalf("moved to %q", vol.Node)
	}
	vol, err = a.Volume(ctx, "bv")
	if err != nil || vol.Node != "nb" {
		t.Fatalf("after the move: %+v %v", vol, err)
	}
	check("after the move")
	if _, err := os.Stat(filepath.Join(mntA, "volumes", vol.ID)); !os.IsNotExist(err) {
		t.Fatalf("the source kept the moved volume: %v", err)
	}
	if out, err := exec.Command("btrfs", "subvolume", "list", mntA).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("subvolumes left on the source: %s %v", out, err)
	}
	c2, err := a.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
	if err != nil || c2.Node != "nb" {
		t.Fatalf("spawn after the move: %v", err)
	}
	if got := vrun(t, ctx, c2, "cat /data/f"); got != "one" {
		t.Fatalf("container on the new node reads %q", got)
	}
	if err := vol.Move(ctx, "na"); !errors.Is(err, sdk.ErrBusy) {
		t.Fatalf("move of a mounted volume: %v", err)
	}
	if err := c2.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := vol.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("btrfs", "subvolume", "list", mntB).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("subvolumes left after destroy: %s %v", out, err)
	}

	// An interrupted move (dir driver, tar stream) leaves the volume whole
	// on its node; a later move completes.
	dv, err := a.CreateVolume(ctx, "dv", sdk.VolumeOnNode(env.Loc.Config.Name))
	if err != nil {
		t.Fatal(err)
	}
	c3, err := a.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(dv, "/data"))
	if err != nil {
		t.Fatal(err)
	}
	digest := vrun(t, ctx, c3, "dd if=/dev/zero of=/data/zero bs=1M count=400 2>/dev/null && dd if=/dev/urandom of=/data/rnd bs=1M count=4 2>/dev/null && cat /data/zero /data/rnd | sha256sum")
	if err := c3.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(env.Dir, "nd", "volumes", dv.ID)
	mctx, cancel := context.WithCancel(ctx)
	go func() { // cancel once the target has begun to receive
		for mctx.Err() == nil {
			if _, err := os.Stat(target); err == nil {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	err = dv.Move(mctx, "nd")
	cancel()
	if !errors.Is(err, sdk.ErrTimeout) {
		t.Fatalf("interrupted move: %v", err)
	}
	waitFor(t, ctx, "the cancelled move to end", func() bool {
		info, err := dv.Info(ctx)
		return err == nil && !info.Moving
	})
	if info, err := dv.Info(ctx); err != nil || info.Node != env.Loc.Config.Name {
		t.Fatalf("after an interrupted move: %+v %v", info, err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("the target kept part of the interrupted move: %v", err)
	}
	sumIn := func(what string) {
		t.Helper()
		c, err := a.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(dv, "/data"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Destroy(ctx)
		if got := vrun(t, ctx, c, "cat /data/zero /data/rnd | sha256sum"); got != digest {
			t.Fatalf("%s: the volume's data changed", what)
		}
	}
	sumIn("after an interrupted move")
	if err := dv.Move(ctx, "nd"); err != nil {
		t.Fatal(err)
	}
	if dv.Node != "nd" {
		t.Fatalf("moved to %q", dv.Node)
	}
	sumIn("after the move")
	if _, err := os.Stat(filepath.Join(env.Dir, "node", "volumes", dv.ID)); !os.IsNotExist(err) {
		t.Fatalf("the source kept the moved volume: %v", err)
	}
}

package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/sdk"
)

// TestVolumeCLI: tffs volume create|ls|info|snapshot|rollback|rm.
func TestVolumeCLI(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Loc.Config.Name
	tffs := func(args ...string) string {
		t.Helper()
		return mustTffs(t, env.ClientDir, append([]string{"volume", "--location", loc}, args...)...)
	}
	if out := tffs("create", "cv", "--tag", "ct"); out != "cv on "+loc+"\n" {
		t.Fatalf("create: %q", out)
	}
	if out := tffs("ls"); !strings.Contains(out, "cv    ct   "+loc) {
		t.Fatalf("ls:\n%s", out)
	}
	tffs("snapshot", "cv")
	tffs("rollback", "ct")
	if out := tffs("info", "ct"); !strings.Contains(out, `"Name": "cv"`) || !strings.Contains(out, `"Snapshots": [`) {
		t.Fatalf("info:\n%s", out)
	}
	tffs("rm", "cv")
	if out := tffs("ls"); strings.Contains(out, "cv") {
		t.Fatalf("ls after rm:\n%s", out)
	}
	for _, bad := range [][]string{{"create"}, {"rm", "nosuch"}, {"frob"}, {"ls", "--tag", "x"}} {
		cmd := exec.Command(testenv.Binary(t), append([]string{"volume", "--location", loc}, bad...)...)
		cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("tffs volume %v succeeded: %s", bad, out)
		}
	}
}

// TestVolumesMount: the mount's volumes/ directory and a container's
// volumes file (testdata/volumes.sh).
func TestVolumesMount(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := mountAt(t, loc)
	runScript(t, 2*time.Minute, "volumes.sh", mnt)
	if ents, _ := os.ReadDir(filepath.Join(env.Dir, "node", "volumes")); len(ents) != 0 {
		t.Fatalf("left in the node's volumes: %v", ents)
	}
}

// TestVolumeMasterRestart: the master's volume records survive a SIGKILL
// of the master, with which containers mount a volume (a destroy stays
// refused until they are gone); the data is untouched.
func TestVolumeMasterRestart(t *testing.T) {
	r := startRestartRig(t, 2*time.Minute)
	ctx := testenv.Ctx(t, 3*time.Minute)
	a := r.connect()
	if _, err := a.ImportImages(ctx, rigBusybox(t, r), nil); err != nil {
		t.Fatal(err)
	}
	vol, err := a.CreateVolume(ctx, "keep", sdk.VolumeTag("kt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := vol.Files().Put(ctx, "/f", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := vol.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := a.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
	if err != nil {
		t.Fatal(err)
	}
	r.killMaster()
	r.startMaster()
	b := r.connect()
	bv, err := b.Volume(ctx, "kt")
	if err != nil {
		t.Fatalf("volume after a master restart: %v", err)
	}
	if info, err := bv.Info(ctx); err != nil || info.Name != "keep" || len(info.Snapshots) != 1 {
		t.Fatalf("info after a master restart: %+v %v", info, err)
	}
	if got, err := bv.Files().Fetch(ctx, "/f"); err != nil || string(got) != "kept" {
		t.Fatalf("data after a master restart: %q %v", got, err)
	}
	if err := bv.Destroy(ctx); !errors.Is(err, sdk.ErrBusy) {
		t.Fatalf("destroy of a volume mounted before the restart: %v", err)
	}
	testenv.Eventually(t, time.Minute, "the container's session back", func() bool {
		return c.Destroy(ctx) == nil
	})
	if err := bv.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestVolumeMoveTargetKilled: the target of a move is killed (SIGKILL)
// while it receives: the move fails, the volume stays whole on its node,
// and what the target had received is destroyed when it joins again; a
// later move completes.
func TestVolumeMoveTargetKilled(t *testing.T) {
	r := startRestartRig(t, 2*time.Minute)
	ctx := testenv.Ctx(t, 5*time.Minute)
	a := r.connect()
	if _, err := a.ImportImages(ctx, rigBusybox(t, r), nil); err != nil {
		t.Fatal(err)
	}
	n2cfg := node.Config{Name: "n2", Dir: filepath.Join(r.dir, "n2"), Master: r.listen, MasterKey: r.masterKey,
		Containerd: r.ctd.Socket(), Namespace: r.ns + "-n2", StatsInterval: time.Second, Log: testenv.Logger(t)}
	n2, err := node.New(n2cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustTffs(t, r.clientDir, "node", "register", "--dir", r.masterDir, "--", "n2", n2.PublicKey())
	nctx, ncancel := context.WithCancel(context.Background())
	n2done := make(chan error, 1)
	go func() { n2done <- n2.Run(nctx) }()
	t.Cleanup(func() { ncancel(); <-n2done })
	testenv.Eventually(t, time.Minute, "node n2 in the offer", func() bool {
		_, err := a.RefreshOffer(ctx)
		_, nerr := a.NodeNamed("n2")
		return err == nil && nerr == nil
	})

	vol, err := a.CreateVolume(ctx, "mv", sdk.VolumeOnNode("n2"))
	if err != nil {
		t.Fatal(err)
	}
	digestIn := func(what string) string {
		t.Helper()
		c, err := a.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer c.Destroy(ctx)
		if what == "fill" {
			vrun(t, ctx, c, "dd if=/dev/zero of=/data/zero bs=1M count=400 2>/dev/null && dd if=/dev/urandom of=/data/rnd bs=1M count=2 2>/dev/null")
		}
		return vrun(t, ctx, c, "cat /data/zero /data/rnd | sha256sum")
	}
	want := digestIn("fill")

	partial := filepath.Join(r.nodeDir, "volumes", vol.ID)
	moved := make(chan error, 1)
	go func() { moved <- vol.Move(ctx, "n1") }()
	testenv.Eventually(t, time.Minute, "the target to begin receiving", func() bool {
		_, err := os.Stat(partial)
		return err == nil
	})
	r.node.signal(t, syscall.SIGKILL)
	r.node.wait(t, 10*time.Second)
	if err := <-moved; err == nil {
		t.Fatal("a move whose target was killed succeeded")
	}
	testenv.Eventually(t, time.Minute, "the move to end", func() bool {
		info, err := vol.Info(ctx)
		return err == nil && !info.Moving
	})
	if info, err := vol.Info(ctx); err != nil || info.Node != "n2" {
		t.Fatalf("after the failed move: %+v %v", info, err)
	}
	if got := digestIn("after the failed move"); got != want {
		t.Fatal("the volume changed in a failed move")
	}
	if _, err := os.Stat(partial); err != nil {
		t.Logf("the killed target left nothing to clean (%v)", err)
	}
	r.startNode()
	testenv.Eventually(t, time.Minute, "the target's partial copy destroyed when it joined", func() bool {
		_, err := os.Stat(partial)
		return os.IsNotExist(err)
	})
	if err := vol.Move(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if got := digestIn("after the move"); got != want {
		t.Fatal("the moved volume's data changed")
	}
	if _, err := os.Stat(filepath.Join(n2cfg.Dir, "volumes", vol.ID)); !os.IsNotExist(err) {
		t.Fatalf("the source kept the moved volume: %v", err)
	}
}

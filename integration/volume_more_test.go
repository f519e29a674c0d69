package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/testenv"
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
	mnt := t.TempDir()
	m, err := tffsfs.Mount(context.Background(), loc, mnt, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmount() })
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

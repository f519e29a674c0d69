package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/master"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// vrun runs a shell command in ctr and returns its trimmed output; a
// non-zero exit fails the test.
func vrun(t *testing.T, ctx context.Context, ctr *sdk.Container, script string) string {
	t.Helper()
	r, err := ctr.RunFull(ctx, []string{"sh", "-c", script})
	if err != nil || r.Code != 0 {
		t.Fatalf("%s in %s: code %d, %v: %s", script, ctr.Name, r.Code, err, r.Stderr)
	}
	return strings.TrimSpace(string(r.Stdout))
}

// volumeEvents collects the volume events a session gets.
type volumeEvents struct {
	mu  sync.Mutex
	evs []string
}

func (v *volumeEvents) option() sdk.Option {
	return sdk.OnVolumeEvent(func(op string, info sdk.VolumeInfo) {
		v.mu.Lock()
		v.evs = append(v.evs, op+" "+info.Name)
		v.mu.Unlock()
	})
}

func (v *volumeEvents) has(ev string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.evs {
		if e == ev {
			return true
		}
	}
	return false
}

func (v *volumeEvents) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.evs...)
}

// waitFor polls cond until it holds or the test's context ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestVolumes: a volume outlives its containers and its session and is
// found by name or tag by a later session of the account; two containers
// that mount it see each other's writes; a mounted volume cannot be
// destroyed or rolled back; snapshot, change, rollback brings the data
// back (dir driver); its files/ stay inside it; another account can
// neither see, mount, snapshot, move nor destroy it, nor learn of it
// through events or the offer; nothing of a destroyed volume is left.
func TestVolumes(t *testing.T) {
	env := testenv.Start(t)
	ctx := testenv.Ctx(t, 3*time.Minute)
	var mine, theirs volumeEvents
	a := env.Connect(t, mine.option())
	other := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "other")), theirs.option())

	vol, err := a.CreateVolume(ctx, "data", sdk.VolumeTag("db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateVolume(ctx, "data"); !errors.Is(err, sdk.ErrExists) {
		t.Fatalf("second volume named data: %v", err)
	}
	if _, err := a.CreateVolume(ctx, "x", sdk.VolumeTag("db")); !errors.Is(err, sdk.ErrExists) {
		t.Fatalf("second volume tagged db: %v", err)
	}
	for _, bad := range []string{"", "a/b", "..", "-x"} {
		if _, err := a.CreateVolume(ctx, bad); !errors.Is(err, sdk.ErrInvalid) {
			t.Fatalf("volume name %q: %v", bad, err)
		}
	}
	if _, err := a.CreateVolume(ctx, "y", sdk.VolumeTag("Bad Tag")); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("bad volume tag: %v", err)
	}
	if list, err := a.Volumes(ctx); err != nil || len(list) != 1 || list[0].Name != "data" || list[0].Tag != "db" {
		t.Fatalf("volumes: %+v %v", list, err)
	}
	env.Loc.Master.SetLimits(master.Limits{Volumes: 1})
	if _, err := a.CreateVolume(ctx, "second"); !errors.Is(err, sdk.ErrLimit) {
		t.Fatalf("a volume past the account's limit: %v", err)
	}
	env.Loc.Master.SetLimits(master.Limits{})

	// Two containers mounting it see each other's writes.
	c1, err := a.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolumeNamed("db", "/mnt/v"))
	if err != nil {
		t.Fatal(err)
	}
	ro, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/ro", sdk.ReadOnly()))
	if err != nil {
		t.Fatal(err)
	}
	vrun(t, ctx, c1, "echo hello > /data/f")
	if got := vrun(t, ctx, c2, "cat /mnt/v/f; echo there > /mnt/v/g"); got != "hello" {
		t.Fatalf("c2 reads %q", got)
	}
	if got := vrun(t, ctx, c1, "cat /data/g"); got != "there" {
		t.Fatalf("c1 reads %q", got)
	}
	if got := vrun(t, ctx, ro, "cat /ro/f; echo x > /ro/h 2>/dev/null && echo wrote || echo refused"); got != "hello\nrefused" {
		t.Fatalf("read-only mount: %q", got)
	}
	info, err := vol.Info(ctx)
	if err != nil || len(info.Mounts) != 3 || info.Used < 12 {
		t.Fatalf("info while mounted: %+v %v", info, err)
	}

	// Busy while mounted.
	if err := vol.Destroy(ctx); !errors.Is(err, sdk.ErrBusy) {
		t.Fatalf("destroy of a mounted volume: %v", err)
	}
	if err := vol.Snapshot(ctx); err != nil {
		t.Fatalf("snapshot of a mounted volume: %v", err)
	}
	if err := vol.Rollback(ctx); !errors.Is(err, sdk.ErrBusy) {
		t.Fatalf("rollback of a mounted volume: %v", err)
	}

	// The other account sees nothing of it.
	if _, err := other.Volume(ctx, "data"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("other account finds the volume: %v", err)
	}
	if _, err := other.Volume(ctx, "db"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("other account finds the volume by tag: %v", err)
	}
	if list, err := other.Volumes(ctx); err != nil || len(list) != 0 {
		t.Fatalf("other account lists %+v %v", list, err)
	}
	if o, err := other.RefreshOffer(ctx); err != nil || len(o.Volumes) != 0 {
		t.Fatalf("other account's offer: %+v %v", o.Volumes, err)
	}
	if o, err := a.RefreshOffer(ctx); err != nil || len(o.Volumes) != 1 {
		t.Fatalf("own offer: %+v %v", o.Volumes, err)
	}
	if _, err := other.ImportImages(ctx, filepath.Join(env.Dir, "busybox.tar"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := other.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolumeNamed("data", "/data")); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("other account mounts the volume: %v", err)
	}
	for _, op := range []string{protocol.OpVolumeSnapshot, protocol.OpVolumeRollback, protocol.OpVolumeDestroy, protocol.OpVolumeInfo} {
		if err := rawVolumeCall(ctx, other, op, protocol.VolumeRef{Volume: "data"}); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("other account %s: %v", op, err)
		}
	}
	if err := rawVolumeCall(ctx, other, protocol.OpVolumeMove, protocol.VolumeMoveRequest{Volume: "data", Node: env.Loc.Config.Name}); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("other account moves the volume: %v", err)
	}
	if _, err := other.ContainerByID(protocol.VolumePrefix+vol.ID).List(ctx, "/"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("other account lists the volume's files by id: %v", err)
	}
	if _, err := other.ContainerByID(protocol.VolumePrefix+vol.ID).Fetch(ctx, "/f"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("other account reads the volume's files by id: %v", err)
	}

	// Data survives its containers and the session.
	for _, c := range []*sdk.Container{c1, c2, ro} {
		if err := c.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := env.Connect(t, mine.option())
	vol, err = b.Volume(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	c3, err := b.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
	if err != nil {
		t.Fatal(err)
	}
	if got := vrun(t, ctx, c3, "cat /data/f /data/g"); got != "hello\nthere" {
		t.Fatalf("a later session reads %q", got)
	}
	if err := c3.Destroy(ctx); err != nil {
		t.Fatal(err)
	}

	// Snapshot, change, rollback, through the volume's files.
	files := vol.Files()
	if err := files.Put(ctx, "/f", []byte("changed")); err != nil {
		t.Fatal(err)
	}
	if err := files.Put(ctx, "/new/deep", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := vol.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := files.Fetch(ctx, "/f"); err != nil || string(got) != "hello\n" {
		t.Fatalf("after rollback f = %q %v", got, err)
	}
	if _, err := files.Stat(ctx, "/new"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("after rollback /new: %v", err)
	}
	if info, err := vol.Info(ctx); err != nil || len(info.Snapshots) != 1 || len(info.Mounts) != 0 {
		t.Fatalf("info: %+v %v", info, err)
	}

	// files/ stays inside the volume, whatever links it holds.
	c4, err := b.AnyNode().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.MountVolume(vol, "/data"))
	if err != nil {
		t.Fatal(err)
	}
	vrun(t, ctx, c4, "ln -s / /data/root && ln -s ../../../../.. /data/up && ln -s /etc/passwd /data/pw && mkdir /data/d && ln -s ../../.. /data/d/up")
	if _, err := files.Fetch(ctx, "/root/etc/passwd"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("fetch through a link to /: %v", err)
	}
	if _, err := files.Fetch(ctx, "/pw"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("fetch of a link to /etc/passwd: %v", err)
	}
	if _, err := files.Fetch(ctx, "/../../../etc/passwd"); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("fetch of ../etc/passwd: %v", err)
	}
	list, err := files.List(ctx, "/d/up")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range list {
		names = append(names, fi.Name)
	}
	if strings.Join(names, " ") != "d f g pw root up" {
		t.Fatalf("list of /d/up (the volume's root): %v", names)
	}
	if err := files.Put(ctx, "/up/escaped", []byte("in")); err != nil {
		t.Fatal(err)
	}
	if got := vrun(t, ctx, c4, "cat /data/escaped"); got != "in" {
		t.Fatalf("a put through a link to .. landed elsewhere: %q", got)
	}
	if err := c4.Destroy(ctx); err != nil {
		t.Fatal(err)
	}

	// Destroy: nothing is left, and only the account hears of it.
	if err := vol.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Volume(ctx, "data"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("destroyed volume found: %v", err)
	}
	if _, err := os.Stat(filepath.Join(env.Dir, "node", "volumes", vol.ID)); !os.IsNotExist(err) {
		t.Fatalf("destroyed volume left on the node: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(env.Dir, "node", "volumes")); len(ents) != 0 {
		t.Fatalf("left in the node's volumes: %v", ents)
	}
	waitFor(t, ctx, "the destroy event", func() bool { return mine.has(protocol.EvVolumeDestroyed + " data") })
	if !mine.has(protocol.EvVolumeCreated + " data") {
		t.Fatalf("own events: %v", mine.all())
	}
	if evs := theirs.all(); len(evs) != 0 {
		t.Fatalf("the other account heard of the volume: %v", evs)
	}
}

// rawVolumeCall sends a volume request by hand (as a client could).
func rawVolumeCall(ctx context.Context, l *sdk.Location, op string, body any) error {
	switch op {
	case protocol.OpVolumeMove:
		v := body.(protocol.VolumeMoveRequest)
		return volumeHandle(ctx, l, v.Volume, func(vol *sdk.Volume) error { return vol.Move(ctx, v.Node) })
	}
	name := body.(protocol.VolumeRef).Volume
	return volumeHandle(ctx, l, name, func(vol *sdk.Volume) error {
		switch op {
		case protocol.OpVolumeSnapshot:
			return vol.Snapshot(ctx)
		case protocol.OpVolumeRollback:
			return vol.Rollback(ctx)
		case protocol.OpVolumeDestroy:
			return vol.Destroy(ctx)
		}
		_, err := vol.Info(ctx)
		return err
	})
}

// volumeHandle calls f with a handle on volume name of l's account, made
// without a lookup (so a call reaches the master even for a volume l
// cannot see).
func volumeHandle(ctx context.Context, l *sdk.Location, name string, f func(*sdk.Volume) error) error {
	return f(l.VolumeByName(name))
}

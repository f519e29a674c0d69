package integration

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// TestTags: a tag is checked, listed, unique among the account's live
// containers (across its sessions) and free again once its container goes.
func TestTags(t *testing.T) {
	env := testenv.Start(t)
	a, b := env.Connect(t), env.Connect(t)
	ctx := testenv.Ctx(t, time.Minute)
	ctr, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Tag("web"))
	if err != nil {
		t.Fatal(err)
	}
	if ctr.Tag != "web" {
		t.Fatalf("Tag = %q", ctr.Tag)
	}
	list, err := a.ListContainers(ctx)
	if err != nil || len(list) != 1 || list[0].Tag != "web" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := b.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Tag("web")); !errors.Is(err, sdk.ErrExists) {
		t.Fatalf("same tag from another session of the account: %v", err)
	}
	other := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "other")))
	if _, err := other.ImportImages(ctx, filepath.Join(env.Dir, "busybox.tar"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Tag("web")); err != nil {
		t.Fatalf("another account's own tag web: %v", err)
	}
	for _, bad := range []string{"Web", "a b", "-x", "", "x/y", string(make([]byte, 64))} {
		if bad == "" {
			continue // no tag
		}
		if _, err := b.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Tag(bad)); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("tag %q: %v", bad, err)
		}
	}
	if list, _ := b.ListContainers(ctx); len(list) != 0 {
		t.Fatalf("refused spawns left containers: %+v", list)
	}
	if err := ctr.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Tag("web")); err != nil {
		t.Fatalf("tag not freed by destroy: %v", err)
	}
}

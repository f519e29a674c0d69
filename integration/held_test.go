package integration

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// TestHeldSpawnPutStart: a container spawned Held is made but not started
// ("created"); files put into it are there when Start runs its command,
// whose output and exit code arrive as for any spawn; a second Start is
// ErrBusy.
func TestHeldSpawnPutStart(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	var mu sync.Mutex
	var out bytes.Buffer
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Held(),
		sdk.Command("sh", "-c", "cat /in/data; exit 4"),
		sdk.OnStdout(func(b []byte) { mu.Lock(); out.Write(b); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	list, err := loc.ListContainers(ctx)
	if err != nil || len(list) != 1 || list[0].State != "created" {
		t.Fatalf("list of a held container: %+v %v", list, err)
	}
	if err := ctr.Put(ctx, "/in/data", []byte("put before start\n")); err != nil {
		t.Fatal(err)
	}
	if err := ctr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	code, err := ctr.Wait(ctx)
	if err != nil || code != 4 {
		t.Fatalf("wait: %d %v", code, err)
	}
	mu.Lock()
	got := out.String()
	mu.Unlock()
	if got != "put before start\n" {
		t.Fatalf("stdout %q", got)
	}
	if err := ctr.Start(ctx); !errors.Is(err, sdk.ErrBusy) {
		t.Fatalf("second start: %v", err)
	}
}

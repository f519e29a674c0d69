package integration

import (
	"context"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// TestFSUnreachableLocation cuts the mount's session off from the master:
// file operations that need the location fail with EIO after the mount's
// call timeout instead of hanging, Ctrl-C ends one at once, and the mount
// works again when the network is back.
func TestFSUnreachableLocation(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t, testenv.SessionTimeout(90*time.Second))
	proxy := newFlakyProxy(t, env.Loc.Config.Master)
	ctx := testenv.Ctx(t, 3*time.Minute)
	loc, err := sdk.Connect(ctx, sdk.WithDir(env.ClientDir), sdk.WithMaster(proxy.addr(), env.Loc.Config.MasterKey),
		sdk.WithHeartbeat(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	m, err := tffsfs.Mount(context.Background(), loc, mnt, testenv.Logger(t), tffsfs.CallTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmount() })
	runScript(t, time.Minute, "slow_location.sh", mnt, "start")
	proxy.cut(time.Hour)
	runScript(t, time.Minute, "slow_location.sh", mnt, "cut")
	proxy.mu.Lock()
	proxy.downTil = time.Now()
	proxy.mu.Unlock()
	runScript(t, time.Minute, "slow_location.sh", mnt, "back")
}

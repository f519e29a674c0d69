package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// A master killed and restarted counts the processes that ran on through
// its absence: the node reports them on its hello, so the account's
// process limit holds as before (it was 0 after a restart: the limit could
// be passed by one restart per limit's worth of processes).
func TestMasterRestartCountsRunningProcesses(t *testing.T) {
	r := startRestartRig(t, 30*time.Second)
	ctx := testenv.Ctx(t, 3*time.Minute)
	loc := r.connect(sdk.WithHeartbeat(300 * time.Millisecond))
	if _, err := loc.ImportImages(ctx, rigBusybox(t, r), nil); err != nil {
		t.Fatal(err)
	}
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctr.Spawn(ctx, []string{"sleep", "1000"}); err != nil {
		t.Fatal(err)
	}

	r.killMaster()
	r.masterArgs = []string{"--max-processes", "1"}
	r.startMaster()

	// Until the node's hello is taken the exec cannot reach it; the first
	// exec that does must meet the limit with the surviving process counted.
	testenv.Eventually(t, 40*time.Second, "a second process refused by the limit", func() bool {
		_, err := ctr.Spawn(testenv.Ctx(t, 5*time.Second), []string{"true"})
		if err == nil {
			t.Fatal("a second process started: the surviving one was not counted after the restart")
		}
		return errors.Is(err, sdk.ErrLimit)
	})
}

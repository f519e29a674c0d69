package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// Close may be called from inside a callback (it used to deadlock: Close
// waited for the goroutine that was running the callback).
func TestCloseFromCallback(t *testing.T) {
	env := testenv.Start(t)
	for _, where := range []string{"OnExit", "OnStdout"} {
		t.Run(where, func(t *testing.T) {
			loc := env.Connect(t)
			ctx := testenv.Ctx(t, 60*time.Second)
			closed := make(chan error, 1)
			closeOnce := func() {
				select {
				case closed <- loc.Close():
				default:
				}
			}
			opts := []sdk.SpawnOption{sdk.Command("sh", "-c", "echo hi; sleep 1")}
			if where == "OnExit" {
				opts = append(opts, sdk.OnExit(func(int) { closeOnce() }))
			} else {
				opts = append(opts, sdk.OnStdout(func([]byte) { closeOnce() }))
			}
			// Output may beat the spawn's reply: the spawn then fails with
			// ErrUnavailable because the callback closed the session.
			if _, err := loc.Node().SpawnContainer(ctx, "busybox", opts...); err != nil && !errors.Is(err, sdk.ErrUnavailable) {
				t.Fatal(err)
			}
			select {
			case err := <-closed:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(45 * time.Second): // a deadlock bound, not a timing claim
				t.Fatal("Close called from a callback did not return")
			}
			testenv.Eventually(t, 30*time.Second, "the closed session's container removed", func() bool {
				return testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers == 0
			})
		})
	}
}

// A callback that blocks holds up only later callbacks: replies to other
// calls keep coming (the receive loop used to block on a full queue).
func TestSlowCallbackDoesNotBlockReplies(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 120*time.Second)
	release := make(chan struct{})
	defer close(release)
	var ctrs []*sdk.Container
	for range 3 {
		c, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("true"),
			sdk.OnExit(func(int) { <-release }))
		if err != nil {
			t.Fatal(err)
		}
		ctrs = append(ctrs, c)
	}
	for _, c := range ctrs {
		if _, err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sleeper, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		out, code, err := sleeper.Run(ctx, "echo", "ok")
		if err != nil || code != 0 || string(out) != "ok\n" {
			t.Fatalf("run while a callback blocks: %q %d %v", out, code, err)
		}
	}
}

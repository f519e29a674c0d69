package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// A spawn given up on before its reply leaves nothing behind: the
// container it made is destroyed when the late reply comes and its name is
// free again.
func TestCancelledSpawnLeavesNothing(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	names := []string{"web0", "web1", "web2"}
	for _, name := range names {
		short, cancel := context.WithTimeout(ctx, time.Millisecond)
		_, err := loc.Node().SpawnContainer(short, "busybox", sdk.Name(name), sdk.Asleep())
		cancel()
		if err != nil && !errors.Is(err, sdk.ErrTimeout) {
			t.Fatalf("cancelled spawn: %v, want ErrTimeout", err)
		}
		if err == nil {
			t.Log("spawn finished inside 1 ms; destroying by hand")
			for _, c := range loc.Containers() {
				_ = c.Destroy(ctx)
			}
		}
	}
	// Each name comes free once its late reply has been handled.
	var c *sdk.Container
	for _, name := range names {
		testenv.Eventually(t, 60*time.Second, "the cancelled spawn's name free again", func() bool {
			var err error
			c, err = loc.Node().SpawnContainer(ctx, "busybox", sdk.Name(name), sdk.Asleep())
			if err != nil && !errors.Is(err, sdk.ErrExists) {
				t.Fatalf("spawn: %v", err)
			}
			return err == nil
		})
	}
	testenv.Eventually(t, 60*time.Second, "only the new containers left", func() bool {
		return testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers == len(names)
	})
	if out, _, err := c.Run(ctx, "echo", "ok"); err != nil || string(out) != "ok\n" {
		t.Fatalf("run: %q %v", out, err)
	}
}

// Run returns soon after its deadline even when the process keeps
// writing, and the process is killed.
func TestRunStopsAtItsDeadline(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	c, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Run(short, "sh", "-c", "echo $$ > /tmp/spam.pid; while :; do echo spam; done")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, sdk.ErrTimeout) {
			t.Fatalf("run past its deadline: %v, want ErrTimeout", err)
		}
	case <-time.After(45 * time.Second): // a hang bound, not a timing claim
		t.Fatal("Run did not return after its deadline")
	}
	testenv.Eventually(t, 30*time.Second, "the process killed", func() bool {
		_, code, err := c.Run(ctx, "sh", "-c", "kill -0 $(cat /tmp/spam.pid)")
		return err == nil && code != 0
	})
}

// A reboot given up on never leaves Wait blocked: the old boot answers
// until the late reply makes the new boot current.
func TestCancelledRebootKeepsWaitAnswering(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	c, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := c.Wait(ctx); err != nil || code != 3 {
		t.Fatalf("wait: %d %v", code, err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Reboot(gone); !errors.Is(err, sdk.ErrTimeout) {
		t.Fatalf("cancelled reboot: %v", err)
	}
	if code, err := c.Wait(ctx); err != nil || code != 3 {
		t.Fatalf("wait after a cancelled reboot: %d %v", code, err)
	}
	if err := c.Reboot(ctx); err != nil {
		t.Fatalf("reboot after a cancelled one: %v", err)
	}
	wctx, wc := context.WithTimeout(ctx, 15*time.Second)
	defer wc()
	if code, err := c.Wait(wctx); err != nil || code != 3 {
		t.Fatalf("wait after reboot: %d %v", code, err)
	}
}

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// cancelRounds is how many random cuts each operation gets.
const cancelRounds = 8

// randomCut cancels contexts after random delays from a logged seed
// (TFFS_CANCEL_SEED replays one), so cuts land before, during and after
// the node's work.
type randomCut struct {
	t   *testing.T
	rng *rand.Rand
}

func newRandomCut(t *testing.T) *randomCut {
	seed := time.Now().UnixNano()
	if s := os.Getenv("TFFS_CANCEL_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("TFFS_CANCEL_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("cancel seed %d (TFFS_CANCEL_SEED=%d replays it)", seed, seed)
	return &randomCut{t: t, rng: rand.New(rand.NewSource(seed))}
}

// delay is a random delay of 0 to 300 ms.
func (c *randomCut) delay() time.Duration { return time.Duration(c.rng.Intn(300)) * time.Millisecond }

// cut returns a context that ends after a random delay.
func (c *randomCut) cut(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	time.AfterFunc(c.delay(), cancel)
	return ctx, cancel
}

// cancelled fails unless err is nil or the context's ErrTimeout.
func cancelled(t *testing.T, what string, err error) bool {
	t.Helper()
	if err != nil && !errors.Is(err, sdk.ErrTimeout) {
		t.Fatalf("%s cut short: %v, want success or ErrTimeout", what, err)
	}
	return err != nil
}

// TestCancelAtRandomPoints cuts spawn, reboot, reset, put, fetch and run
// at random points through the SDK: each leaves the old state or the new
// one, nothing orphaned in containerd and every name free.
func TestCancelAtRandomPoints(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 8*time.Minute)
	cut := newRandomCut(t)
	node := loc.Node()

	t.Run("Spawn", func(t *testing.T) {
		var freed []string
		for i := range cancelRounds {
			name := fmt.Sprintf("cut%d", i)
			cctx, cancel := cut.cut(ctx)
			c, err := node.SpawnContainer(cctx, "busybox", sdk.Name(name), sdk.Asleep())
			cancel()
			if !cancelled(t, "spawn", err) {
				if err := c.Destroy(ctx); err != nil {
					t.Fatal(err)
				}
			}
			freed = append(freed, name)
		}
		for _, name := range freed {
			testenv.Eventually(t, 60*time.Second, "name "+name+" free again", func() bool {
				c, err := node.SpawnContainer(ctx, "busybox", sdk.Name(name), sdk.Asleep())
				if err != nil && !errors.Is(err, sdk.ErrExists) {
					t.Fatalf("spawn %s: %v", name, err)
				}
				if err == nil {
					if err := c.Destroy(ctx); err != nil {
						t.Fatal(err)
					}
				}
				return err == nil
			})
		}
	})

	c, err := node.SpawnContainer(ctx, "busybox", sdk.Name("victim"), sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	// sane checks that the container answers: its state is old or new.
	sane := func(t *testing.T) {
		t.Helper()
		if exited, _ := c.Exited(); exited {
			if _, err := c.Wait(ctx); err != nil {
				t.Fatalf("wait on an exited boot: %v", err)
			}
		}
		if out, code, err := c.Run(ctx, "echo", "ok"); err != nil || code != 0 || string(out) != "ok\n" {
			t.Fatalf("run after a cut: %q %d %v", out, code, err)
		}
	}

	for _, op := range []string{"Reboot", "Reset"} {
		t.Run(op, func(t *testing.T) {
			do := c.Reboot
			if op == "Reset" {
				do = c.Reset
			}
			for range cancelRounds {
				cctx, cancel := cut.cut(ctx)
				cancelled(t, op, do(cctx))
				cancel()
				sane(t)
			}
			if err := c.Put(ctx, "/marker", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := do(ctx); err != nil {
				t.Fatalf("%s after cut ones: %v", op, err)
			}
			sane(t)
			_, err := c.Fetch(ctx, "/marker")
			if op == "Reset" && !errors.Is(err, sdk.ErrNotFound) {
				t.Fatalf("a file after a reset: %v, want ErrNotFound", err)
			}
			if op == "Reboot" && err != nil {
				t.Fatalf("a file after a reboot: %v", err)
			}
		})
	}

	t.Run("Put", func(t *testing.T) {
		const size = 8 << 20
		whole := map[[32]byte]bool{} // every content put: a late put may still land
		put := func(cctx context.Context) error {
			data := make([]byte, size)
			cut.rng.Read(data)
			whole[sha256.Sum256(data)] = true
			return c.Put(cctx, "/tmp/d/f", data)
		}
		if err := put(ctx); err != nil {
			t.Fatal(err)
		}
		for range cancelRounds {
			cctx, cancel := cut.cut(ctx)
			cancelled(t, "put", put(cctx))
			cancel()
			got, err := c.Fetch(ctx, "/tmp/d/f")
			if err != nil {
				t.Fatalf("fetch after a cut put: %v", err)
			}
			if !whole[sha256.Sum256(got)] {
				t.Fatalf("after a cut put the file is none of the contents put (%d bytes): partial", len(got))
			}
		}
		testenv.Eventually(t, 60*time.Second, "no put temp file left", func() bool {
			out, _, err := c.Run(ctx, "ls", "-a", "/tmp/d")
			if err != nil {
				t.Fatal(err)
			}
			return !strings.Contains(string(out), ".tffs-put-")
		})
	})

	t.Run("Fetch", func(t *testing.T) {
		want, err := c.Fetch(ctx, "/tmp/d/f")
		if err != nil {
			t.Fatal(err)
		}
		for range cancelRounds {
			cctx, cancel := cut.cut(ctx)
			got, err := c.Fetch(cctx, "/tmp/d/f")
			cancel()
			if !cancelled(t, "fetch", err) && !bytes.Equal(got, want) {
				t.Fatalf("a fetch that succeeded gave %d bytes, not the file", len(got))
			}
			if got, err := c.Fetch(ctx, "/tmp/d/f"); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("fetch after a cut one: %d bytes, %v", len(got), err)
			}
		}
	})

	t.Run("Run", func(t *testing.T) {
		for range cancelRounds {
			cctx, cancel := cut.cut(ctx)
			out, code, err := c.Run(cctx, "sh", "-c", "echo start; sleep 0.1; exec sleep 31")
			cancel()
			if !cancelled(t, "run", err) {
				t.Fatalf("a run of 31 s finished inside 300 ms: %q %d", out, code)
			}
			sane(t)
		}
		testenv.Eventually(t, 60*time.Second, "no process of a cut run left", func() bool {
			out, _, err := c.Run(ctx, "sh", "-c", "ps -o args | grep -c '^sleep 31' || true")
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(out)) == "0"
		})
	})

	if err := loc.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "nothing left in containerd", func() bool {
		st := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace())
		return st.Containers == 0 && st.Tasks == 0 && st.Snapshots == 0
	})
}

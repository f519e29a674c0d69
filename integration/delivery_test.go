package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// cutter cuts the client↔master and master↔node links in turn, by the
// given durations, until stopped.
type cutter struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func startCuts(proxies []*flakyProxy, cuts ...time.Duration) *cutter {
	c := &cutter{stop: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			d := cuts[i%len(cuts)]
			proxies[i%len(proxies)].cut(d)
			select {
			case <-c.stop:
				return
			case <-time.After(d):
			}
		}
	}()
	return c
}

func (c *cutter) end() { close(c.stop); c.wg.Wait() }

// okOrUnavailable accepts success or a failure the caller was told of
// (ErrUnavailable); anything else (a timeout: the call hung) fails the test.
func okOrUnavailable(t *testing.T, what string, err error) bool {
	t.Helper()
	if err != nil && !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("%s: %v (want success or ErrUnavailable)", what, err)
	}
	if err != nil {
		t.Logf("%s failed within the bound: %v", what, err)
	}
	return err == nil
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// Messages in flight while the client↔master or master↔node connection is
// cut (0.1 s to 5 s) are delivered intact, or the call fails with
// ErrUnavailable: a 100 MB put and fetch, a 32 MB stdout stream, a
// process's stdin and exit events. A cut past protocol.LinkTimeout fails
// what is in flight with ErrUnavailable. Afterwards the session works and
// leaves nothing behind in containerd.
func TestDeliveryAcrossConnectionCuts(t *testing.T) {
	var nodeProxy *flakyProxy
	env := testenv.Start(t, testenv.SessionTimeout(time.Minute), testenv.NodeConfig(func(c *node.Config) {
		nodeProxy = newFlakyProxy(t, c.Master)
		c.Master = nodeProxy.addr()
	}))
	clientProxy := newFlakyProxy(t, env.Loc.Config.Master)
	both := []*flakyProxy{clientProxy, nodeProxy}
	// The phases' own bounds are what is tested; this only ends a hang (under
	// -race in a fresh root the phases took 222 s and ran out of 3 minutes).
	ctx := testenv.Ctx(t, 8*time.Minute)
	loc, err := sdk.Connect(ctx, sdk.WithDir(env.ClientDir), sdk.WithMaster(clientProxy.addr(), env.Loc.Config.MasterKey),
		sdk.WithHeartbeat(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Close()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}

	data := make([]byte, 100<<20)
	rand.Read(data)
	want := sum(data)
	put := false
	t.Run("put", func(t *testing.T) {
		c := startCuts(both, 100*time.Millisecond, time.Second, 300*time.Millisecond, 5*time.Second)
		err := ctr.PutReader(ctx, "/data", bytes.NewReader(data), 0o644)
		c.end()
		put = okOrUnavailable(t, "put", err)
	})
	if !put { // the data is needed below: put it again without cuts
		if err := ctr.PutReader(ctx, "/data", bytes.NewReader(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("fetch", func(t *testing.T) {
		c := startCuts(both, 2*time.Second, 100*time.Millisecond, 4*time.Second)
		got, err := ctr.Fetch(ctx, "/data")
		c.end()
		if okOrUnavailable(t, "fetch", err) && sum(got) != want {
			t.Fatalf("fetched %d bytes, sha256 differs", len(got))
		}
	})
	t.Run("stdout", func(t *testing.T) {
		c := startCuts(both, 500*time.Millisecond, 3*time.Second, 100*time.Millisecond)
		defer c.end()
		p, err := ctr.Spawn(ctx, []string{"head", "-c", "33554432", "/data"})
		if !okOrUnavailable(t, "spawn", err) {
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, p.Stdout)
		if !okOrUnavailable(t, "stdout", err) {
			return
		}
		if hex.EncodeToString(h.Sum(nil)) != sum(data[:32<<20]) {
			t.Fatalf("stdout: %d bytes, sha256 differs", n)
		}
		code, err := p.Wait(ctx)
		if okOrUnavailable(t, "wait", err) && code != 0 {
			t.Fatalf("cat exited %d", code)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		p, err := ctr.Spawn(ctx, []string{"sha256sum"})
		if err != nil {
			t.Fatal(err)
		}
		c := startCuts(both, time.Second, 100*time.Millisecond, 3*time.Second)
		defer c.end()
		var out []byte
		read := make(chan error, 1)
		go func() {
			var err error
			out, err = io.ReadAll(p.Stdout)
			read <- err
		}()
		_, err = p.Stdin.Write(data[:30<<20])
		if !okOrUnavailable(t, "stdin", err) {
			return
		}
		okOrUnavailable(t, "stdin close", p.Stdin.Close())
		if !okOrUnavailable(t, "stdout of sha256sum", <-read) {
			return
		}
		if got := strings.Fields(string(out)); len(got) == 0 || got[0] != sum(data[:30<<20]) {
			t.Fatalf("sha256sum of stdin: %q", out)
		}
	})
	t.Run("exit", func(t *testing.T) {
		short, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sh", "-c", "sleep 1; exit 3"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := ctr.Spawn(ctx, []string{"sh", "-c", "sleep 1; exit 4"})
		if err != nil {
			t.Fatal(err)
		}
		nodeProxy.cut(3 * time.Second) // both exits happen while the node is cut off
		clientProxy.cut(4 * time.Second)
		code, err := short.Wait(ctx)
		if okOrUnavailable(t, "container wait", err) && code != 3 {
			t.Fatalf("container exit %d, want 3", code)
		}
		code, err = p.Wait(ctx)
		if okOrUnavailable(t, "process wait", err) && code != 4 {
			t.Fatalf("process exit %d, want 4", code)
		}
		okOrUnavailable(t, "destroy", short.Destroy(ctx))
	})

	// A cut longer than the bound: what is in flight fails with
	// ErrUnavailable (the link is reset), it does not hang.
	t.Run("beyond the bound", func(t *testing.T) {
		p, err := ctr.Spawn(ctx, []string{"sleep", "2"})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			clientProxy.cut(protocol.LinkTimeout + 2*time.Second)
		}()
		fctx, cancel := context.WithTimeout(ctx, 3*protocol.LinkTimeout)
		defer cancel()
		_, err = ctr.Fetch(fctx, "/data")
		if !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("fetch across a cut past the bound: %v, want ErrUnavailable", err)
		}
		code, err := p.Wait(fctx)
		if okOrUnavailable(t, "process wait", err) && code != 0 {
			t.Fatalf("sleep exited %d", code)
		}
	})

	// Afterwards: list, run and destroy work; the session leaves nothing.
	// (A context of its own: slow phases before must not use up its time.)
	ctx = testenv.Ctx(t, 2*time.Minute)
	testenv.Eventually(t, 30*time.Second, "a run after the cuts", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, code, err := ctr.Run(rctx, "echo", "back")
		return err == nil && code == 0 && string(out) == "back\n"
	})
	list, err := loc.ListContainers(ctx)
	if err != nil || len(list) == 0 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if err := ctr.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	loc.Close()
	testenv.Eventually(t, 30*time.Second, "containerd empty after the session", func() bool {
		return testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers == 0
	})
}

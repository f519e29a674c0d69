package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

func TestUnknownKeyRefusedKnownKeyGetsOffer(t *testing.T) {
	env := testenv.Start(t)
	stranger, _ := protocol.NewKeyPair()
	_, err := sdk.Connect(testenv.Ctx(t, 10*time.Second), sdk.WithDir(env.ClientDir), sdk.WithKeyPair(stranger))
	if !errors.Is(err, sdk.ErrPermission) {
		t.Fatalf("unknown key: got %v, want ErrPermission", err)
	}
	loc := env.Connect(t)
	nodes := loc.Nodes()
	if len(nodes) != 1 || nodes[0].Info.Name != env.Loc.Config.Name || nodes[0].Info.Rank != 1 || nodes[0].Info.MemTotal == 0 || nodes[0].Info.CPUs == 0 {
		t.Fatalf("offer: %+v", loc.Offer())
	}
}

func TestSpawnStreamsStdoutAndExitCode(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 60*time.Second)
	var mu sync.Mutex
	var out, errOut bytes.Buffer
	exit := make(chan int, 1)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox",
		sdk.Command("sh", "-c", "echo hello; echo oops >&2; echo $MODE; exit 3"),
		sdk.Env("MODE=demo"),
		sdk.OnStdout(func(b []byte) { mu.Lock(); out.Write(b); mu.Unlock() }),
		sdk.OnStderr(func(b []byte) { mu.Lock(); errOut.Write(b); mu.Unlock() }),
		sdk.OnExit(func(code int) { exit <- code }))
	if err != nil {
		t.Fatal(err)
	}
	code, err := ctr.Wait(ctx)
	if err != nil || code != 3 {
		t.Fatalf("wait: code %d err %v", code, err)
	}
	if got := <-exit; got != 3 {
		t.Fatalf("OnExit got %d", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if out.String() != "hello\ndemo\n" || errOut.String() != "oops\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestRunSpawnStdinAndKill(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 60*time.Second)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	out, code, err := ctr.Run(ctx, "sh", "-c", "echo out; exit 42")
	if err != nil || code != 42 || string(out) != "out\n" {
		t.Fatalf("run: out %q code %d err %v", out, code, err)
	}
	res, err := ctr.RunFull(ctx, []string{"sh", "-c", "echo e >&2; false"})
	if err != nil || res.Code != 1 || string(res.Stderr) != "e\n" {
		t.Fatalf("runfull: %+v %v", res, err)
	}
	// stdin echoes back through cat.
	p, err := ctr.Spawn(ctx, []string{"cat"})
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("echo me\n"), 50000) // 400 KB: several chunks each way
	go func() { p.Stdin.Write(msg); p.Stdin.Close() }()
	got, err := io.ReadAll(p.Stdout)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("cat echoed %d bytes (want %d), err %v", len(got), len(msg), err)
	}
	if code, err := p.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("cat exit %d %v", code, err)
	}
	// kill ends a process with the real status.
	p, err = ctr.Spawn(ctx, []string{"sleep", "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(ctx); err != nil || code != 137 {
		t.Fatalf("killed sleep: code %d err %v", code, err)
	}
	// a missing command is an error, not a hang.
	if _, _, err := ctr.Run(ctx, "/no/such/binary"); err == nil {
		t.Fatal("running a missing binary succeeded")
	}
}

func TestPutFetchAndConfinement(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 10<<20)
	rand.Read(data)
	if err := ctr.Put(ctx, "/data/blob.bin", data, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := ctr.Fetch(ctx, "/data/blob.bin")
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("fetch: %d bytes equal=%v err %v", len(back), bytes.Equal(back, data), err)
	}
	fi, err := ctr.Stat(ctx, "/data/blob.bin")
	if err != nil || fi.Size != int64(len(data)) || os.FileMode(fi.Mode).Perm() != 0o600 {
		t.Fatalf("stat %+v %v", fi, err)
	}
	if out, _, _ := ctr.Run(ctx, "md5sum", "/data/blob.bin"); len(out) < 32 {
		t.Fatalf("md5sum in container: %q", out)
	}
	// File errors keep their errno class across the wire.
	if err := ctr.Put(ctx, "/data/blob.bin/x", []byte("x")); !errors.Is(err, sdk.ErrNotDir) {
		t.Fatalf("put under a file: %v", err)
	}
	if err := ctr.Remove(ctx, "/data", false); !errors.Is(err, sdk.ErrNotEmpty) {
		t.Fatalf("remove a full directory: %v", err)
	}
	if _, err := ctr.Fetch(ctx, "/data"); !errors.Is(err, sdk.ErrIsDir) {
		t.Fatalf("fetch a directory: %v", err)
	}
	if _, err := ctr.Fetch(ctx, "/data/nothing"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("fetch a missing file: %v", err)
	}
	// `..` is refused outright.
	if err := ctr.Put(ctx, "/../../../tmp/escape", []byte("x")); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("put with ..: %v", err)
	}
	if _, err := ctr.Fetch(ctx, "/../../../etc/hostname"); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("fetch with ..: %v", err)
	}
	// A symlink the container made that points "out" stays inside.
	hostDir := t.TempDir()
	ctr.Run(ctx, "mkdir", "-p", hostDir) // the same path inside the container
	if _, code, err := ctr.Run(ctx, "ln", "-s", "../../../../../../../.."+hostDir, "/tmp/out"); err != nil || code != 0 {
		t.Fatalf("ln: %d %v", code, err)
	}
	if err := ctr.Put(ctx, "/tmp/out/planted", []byte("x")); err != nil {
		t.Fatalf("put through symlink: %v", err)
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
		t.Fatalf("a put through a container symlink reached the host: %v", ents)
	}
	if out, _, _ := ctr.Run(ctx, "cat", hostDir+"/planted"); string(out) != "x" {
		t.Fatalf("the file should have landed inside the container at %s/planted, got %q", hostDir, out)
	}
	secret := filepath.Join(hostDir, "secret")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	ctr.Run(ctx, "ln", "-s", "/../../../.."+secret, "/tmp/secret")
	if got, err := ctr.Fetch(ctx, "/tmp/secret"); err == nil && strings.Contains(string(got), "host secret") {
		t.Fatal("a fetch through a container symlink read a host file")
	}
}

func TestPreBootRebootReset(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	var mu sync.Mutex
	var first bytes.Buffer
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox",
		sdk.PreBootFile("/www/index.html", []byte("<h1>hello</h1>")),
		sdk.Command("sh", "-c", "cat /www/index.html; sleep 1000"),
		sdk.OnStdout(func(b []byte) { mu.Lock(); first.Write(b); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "pre-boot file printed by the first process", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first.String() == "<h1>hello</h1>"
	})
	if _, code, err := ctr.Run(ctx, "sh", "-c", "echo runtime > /root/state"); err != nil || code != 0 {
		t.Fatal(code, err)
	}
	if err := ctr.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if out, _, err := ctr.Run(ctx, "cat", "/root/state"); err != nil || string(out) != "runtime\n" {
		t.Fatalf("after reboot: %q %v", out, err)
	}
	if err := ctr.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, code, _ := ctr.Run(ctx, "test", "-e", "/root/state"); code == 0 {
		t.Fatal("reset kept a file written at run time")
	}
	if out, _, _ := ctr.Run(ctx, "cat", "/www/index.html"); string(out) != "<h1>hello</h1>" {
		t.Fatalf("pre-boot file after reset: %q", out)
	}
	if err := ctr.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ctr.Run(ctx, "true"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("run after destroy: %v", err)
	}
	st := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace())
	if st != (testenv.ContainerdState{}) {
		t.Fatalf("containerd after destroy: %+v", st)
	}
}

func TestSessionsAreIsolated(t *testing.T) {
	env := testenv.Start(t)
	a, b := env.Connect(t), env.Connect(t)
	ctx := testenv.Ctx(t, 60*time.Second)
	ctr, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Name("mine"))
	if err != nil {
		t.Fatal(err)
	}
	ctr.Put(ctx, "/secret", []byte("a's"))
	if list, err := b.ListContainers(ctx); err != nil || len(list) != 0 {
		t.Fatalf("b sees %v (%v)", list, err)
	}
	other := b.ContainerByID(ctr.ID)
	if _, _, err := other.Run(ctx, "true"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("b ran in a's container: %v", err)
	}
	if _, err := other.Fetch(ctx, "/secret"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("b fetched from a's container: %v", err)
	}
	if err := other.Put(ctx, "/x", []byte("x")); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("b put into a's container: %v", err)
	}
	if err := other.Destroy(ctx); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("b destroyed a's container: %v", err)
	}
	// The same name is free in another session, taken in the same one.
	if _, err := b.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Name("mine")); err != nil {
		t.Fatalf("b's own 'mine': %v", err)
	}
	if _, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Name("mine")); !errors.Is(err, sdk.ErrExists) {
		t.Fatalf("second 'mine' in a: %v", err)
	}
	if out, _, err := ctr.Run(ctx, "cat", "/secret"); err != nil || string(out) != "a's" {
		t.Fatalf("a's container was touched: %q %v", out, err)
	}
	// Closing a removes its containers, not b's.
	a.Close()
	testenv.Eventually(t, 20*time.Second, "a's container removed", func() bool {
		return testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers == 1
	})
}

func TestImageUploadsOnlyMissingLayers(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 60*time.Second)
	var last sdk.Progress
	names, err := loc.ImportImages(ctx, filepath.Join(env.Dir, "busybox.tar"), func(p sdk.Progress) { last = p })
	if err != nil || len(names) != 1 {
		t.Fatal(names, err)
	}
	if last.Total != 0 || last.Skipped != 1 {
		t.Fatalf("re-import uploaded layers: %+v", last)
	}
	imgs, err := loc.Images(ctx)
	if err != nil || len(imgs) != 1 || imgs[0].Name != "busybox:latest" {
		t.Fatalf("images: %+v %v", imgs, err)
	}
	if _, err := loc.Node().SpawnContainer(ctx, "nosuchimage"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("spawn of a missing image: %v", err)
	}
}

var _ = syscall.SIGKILL

// TestInstantExitsAreNotLost: a main process that exits before the spawn
// (or reboot) reply reaches the client still ends Wait with its code, and
// an old boot's exit never ends the new boot.
func TestInstantExitsAreNotLost(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	for i := range 8 {
		ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sh", "-c", fmt.Sprintf("exit %d", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		code, err := ctr.Wait(wctx)
		cancel()
		if err != nil || code != i+1 {
			t.Fatalf("spawn %d: code %d, %v", i, code, err)
		}
	}
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sh", "-c", "sleep 1; exit 7"))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := ctr.Wait(ctx); err != nil || code != 7 {
		t.Fatalf("first boot: %d %v", code, err)
	}
	if err := ctr.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if done, _ := ctr.Exited(); done {
		t.Fatal("the first boot's exit ended the second boot")
	}
	list, _ := loc.ListContainers(ctx)
	if len(list) != 9 || list[0].State == "" {
		t.Fatalf("list: %+v", list)
	}
	for _, c := range list {
		if c.ID == ctr.ID && c.State != "running" {
			t.Fatalf("the master says the rebooted container is %s", c.State)
		}
	}
	if code, err := ctr.Wait(ctx); err != nil || code != 7 {
		t.Fatalf("second boot: %d %v", code, err)
	}
}

// TestLargeMainOutput: the main process's output is flow-controlled end to
// end (the client's acks reach the node), so a big stdout neither stalls
// nor loses bytes, and the container can be destroyed afterwards.
func TestLargeMainOutput(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	var mu sync.Mutex
	var got int
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("head", "-c", "30000000", "/dev/zero"),
		sdk.OnStdout(func(b []byte) { mu.Lock(); got += len(b); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if code, err := ctr.Wait(wctx); err != nil || code != 0 {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("wait: %d %v after %d bytes", code, err, got)
	}
	mu.Lock()
	n := got
	mu.Unlock()
	if n != 30000000 {
		t.Fatalf("stdout: %d bytes, want 30000000", n)
	}
	if err := ctr.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDestroyWithUnreadOutput: a container whose output the client stopped
// reading (its stream out of credit) is still destroyed promptly, and
// nothing of it is left in containerd.
func TestDestroyWithUnreadOutput(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{}, 1)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("head", "-c", "30000000", "/dev/zero"),
		sdk.OnStdout(func([]byte) {
			select {
			case started <- struct{}{}:
			default:
			}
			<-block
		}))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	time.Sleep(500 * time.Millisecond) // let the node run out of credit
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ctr.Destroy(dctx); err != nil {
		t.Fatalf("destroy with unread output: %v", err)
	}
	if st := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()); st != (testenv.ContainerdState{}) {
		t.Fatalf("containerd after destroy: %+v", st)
	}
}

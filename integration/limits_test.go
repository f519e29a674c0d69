package integration

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/master"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// wantLimit checks that err is a clear ErrLimit.
func wantLimit(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, sdk.ErrLimit) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("%s: got %v, want ErrLimit", what, err)
	}
}

func TestContainerLimitPerAccount(t *testing.T) {
	env := testenv.Start(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	env.Loc.Master.SetLimits(master.Limits{Containers: 2})
	a, b := env.Connect(t), env.Connect(t) // two sessions of one account
	first, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Node().SpawnContainer(ctx, "busybox", sdk.Asleep()); err != nil {
		t.Fatal(err)
	}
	_, err = a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Name("third"))
	wantLimit(t, "third container", err)
	_, err = b.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	wantLimit(t, "third container from the other session", err)
	if n := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers; n != 2 {
		t.Fatalf("%d containers in containerd, want 2", n)
	}
	if list, _ := a.ListContainers(ctx); len(list) != 1 {
		t.Fatalf("a refused spawn left a record: %+v", list)
	}
	// The name of the refused spawn stays free; room comes back with a destroy.
	if err := first.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Name("third")); err != nil {
		t.Fatalf("spawn after a destroy: %v", err)
	}
}

func TestProcessLimitPerAccount(t *testing.T) {
	env := testenv.Start(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	loc := env.Connect(t)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	env.Loc.Master.SetLimits(master.Limits{Processes: 2})
	p1, err := ctr.Spawn(ctx, []string{"sleep", "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctr.Spawn(ctx, []string{"sleep", "1000"}); err != nil {
		t.Fatal(err)
	}
	_, err = ctr.Spawn(ctx, []string{"sleep", "1000"})
	wantLimit(t, "third process", err)
	_, _, err = ctr.Run(ctx, "true")
	wantLimit(t, "a run past the limit", err)
	if err := p1.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p1.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	out, code, err := ctr.Run(ctx, "echo", "room again")
	if err != nil || code != 0 || string(out) != "room again\n" {
		t.Fatalf("run after a process exited: %q %d %v", out, code, err)
	}
	// Finished runs give their slot back: many in a row stay within 2.
	for i := 0; i < 5; i++ {
		if _, _, err := ctr.Run(ctx, "true"); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
}

// layerImage writes a docker-save tarball of an image named name with one
// layer holding size random bytes.
func layerImage(t *testing.T, dir, name string, size int) (path, digest string) {
	path, digests := layersImage(t, dir, name, size)
	return path, digests[0]
}

// layersImage writes a docker-save tarball of an image with one layer per
// size, each an uncompressed tar of that many random bytes.
func layersImage(t *testing.T, dir, name string, sizes ...int) (path string, digests []string) {
	t.Helper()
	type entry struct {
		name string
		b    []byte
	}
	var files []entry
	var layerNames []string
	for i, size := range sizes {
		var layer bytes.Buffer
		tw := tar.NewWriter(&layer)
		data := make([]byte, size)
		rand.Read(data)
		tw.WriteHeader(&tar.Header{Name: "blob" + string(rune('0'+i)), Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg})
		tw.Write(data)
		tw.Close()
		sum := sha256.Sum256(layer.Bytes())
		digests = append(digests, "sha256:"+hex.EncodeToString(sum[:]))
		layerNames = append(layerNames, "layer"+string(rune('0'+i))+".tar")
		files = append(files, entry{layerNames[i], layer.Bytes()})
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{"Cmd": []string{"/blob0"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": digests},
	})
	manifest, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{name}, "Layers": layerNames}})
	files = append([]entry{{"manifest.json", manifest}, {"config.json", cfg}}, files...)
	path = filepath.Join(dir, strings.NewReplacer(":", "_", "/", "_").Replace(name)+".tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := tar.NewWriter(f)
	for _, e := range files {
		out.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.b)), Typeflag: tar.TypeReg})
		out.Write(e.b)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path, digests
}

func loadOne(t *testing.T, path string) *sdk.Image {
	t.Helper()
	imgs, err := sdk.LoadImages(path)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("load %s: %v", path, err)
	}
	return imgs[0]
}

func stored(env *testenv.Env, digest string) bool {
	_, err := os.Stat(filepath.Join(env.Dir, "master", "layers", "sha256", strings.TrimPrefix(digest, "sha256:")))
	return err == nil
}

// An account's stored layer bytes are bounded; an upload past the quota is
// refused and leaves nothing; a layer no image references any more is
// removed from the master's store, and its bytes count no more.
func TestLayerQuotaAndCollection(t *testing.T) {
	env := testenv.Start(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	kp := env.NewAccount(t, "quota")
	loc := env.Connect(t, sdk.WithKeyPair(kp))
	const mb = 1 << 20
	pathA, digestA := layerImage(t, env.Dir, "quota-a:latest", 2*mb)
	pathB, digestB := layerImage(t, env.Dir, "quota-b:latest", 2*mb)
	pathC, digestC := layerImage(t, env.Dir, "quota-c:latest", 2*mb)

	env.Loc.Master.SetLimits(master.Limits{LayerBytes: 3 * mb})
	if err := loc.EnsureImage(ctx, loadOne(t, pathA), "", nil); err != nil {
		t.Fatal(err)
	}
	err := loc.EnsureImage(ctx, loadOne(t, pathB), "", nil)
	wantLimit(t, "an image past the quota", err)
	if stored(env, digestB) {
		t.Fatal("the refused layer was stored")
	}
	if imgs, _ := loc.Images(ctx); len(imgs) != 1 || imgs[0].Name != "quota-a:latest" {
		t.Fatalf("images after the refusal: %+v", imgs)
	}

	// Replacing quota-a by B's content leaves A's layer unreferenced: it is
	// removed, and its bytes are free for C.
	env.Loc.Master.SetLimits(master.Limits{LayerBytes: 5 * mb})
	if err := loc.EnsureImage(ctx, loadOne(t, pathB), "quota-a:latest", nil); err != nil {
		t.Fatal(err)
	}
	if stored(env, digestA) || !stored(env, digestB) {
		t.Fatalf("after replacing: A stored %v (want false), B stored %v (want true)", stored(env, digestA), stored(env, digestB))
	}
	if err := loc.EnsureImage(ctx, loadOne(t, pathC), "", nil); err != nil {
		t.Fatalf("an image within the freed quota: %v", err)
	}
	if !stored(env, digestC) {
		t.Fatal("C not stored")
	}
	// The busybox layer of the location's own account is untouched.
	if _, _, err := mustSpawnRun(t, env); err != nil {
		t.Fatal(err)
	}
}

func mustSpawnRun(t *testing.T, env *testenv.Env) ([]byte, int, error) {
	t.Helper()
	ctx := testenv.Ctx(t, 60*time.Second)
	loc := env.Connect(t)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		return nil, 0, err
	}
	return ctr.Run(ctx, "true")
}

// Layers uploaded by a session that ends before an image takes them up are
// collected: an image whose second layer is past the quota leaves its first
// layer only until its session ends.
func TestAbandonedUploadIsCollected(t *testing.T) {
	env := testenv.Start(t)
	ctx := testenv.Ctx(t, 60*time.Second)
	const mb = 1 << 20
	path, digests := layersImage(t, env.Dir, "abandoned:latest", mb, 2*mb)
	env.Loc.Master.SetLimits(master.Limits{LayerBytes: 2 * mb})
	kp := env.NewAccount(t, "abandon")
	loc := env.Connect(t, sdk.WithKeyPair(kp))
	err := loc.EnsureImage(ctx, loadOne(t, path), "", nil)
	wantLimit(t, "an image whose second layer is past the quota", err)
	if !stored(env, digests[0]) || stored(env, digests[1]) {
		t.Fatalf("first layer stored %v (want true until the session ends), second %v (want false)", stored(env, digests[0]), stored(env, digests[1]))
	}
	loc.Close()
	testenv.Eventually(t, 20*time.Second, "the abandoned layer collected", func() bool { return !stored(env, digests[0]) })
}

// An account has a bounded number of layer uploads in flight at once.
func TestConcurrentUploadLimit(t *testing.T) {
	env := testenv.Start(t)
	ctx := testenv.Ctx(t, 60*time.Second)
	env.Loc.Master.SetLimits(master.Limits{Uploads: 1})
	kp, err := sdk.ClientKey(env.ClientDir)
	if err != nil {
		t.Fatal(err)
	}
	// A raw session of the account starts an upload and sends no data.
	sock := rawDealer(t, env, kp, "")
	sock.SetRcvtimeo(10 * time.Second)
	sock.SendBytes(request(t, 1, protocol.OpHello, "", protocol.HelloRequest{}), 0)
	replyTo(t, sock, 1)
	sock.SendBytes(request(t, 2, protocol.OpLayerPut, "", protocol.LayerPutRequest{Digest: "sha256:" + strings.Repeat("ab", 32), Size: 1000, Stream: 9}), 0)
	sock.SendBytes(request(t, 3, protocol.OpOffer, "", protocol.Empty{}), 0)
	replyTo(t, sock, 3) // the master has taken up the upload

	path, digests := layersImage(t, env.Dir, "uploads:latest", 4096)
	loc := env.Connect(t)
	err = loc.EnsureImage(ctx, loadOne(t, path), "", nil)
	wantLimit(t, "a second upload at once", err)
	if stored(env, digests[0]) {
		t.Fatal("the refused upload was stored")
	}
	// The stalled session leaves: its upload ends, the slot is free.
	sock.SendBytes(encodeMsg(t, &protocol.Msg{Kind: protocol.KindBye}), 0)
	for { // the master answers the goodbye as it ends the session
		b, err := sock.RecvBytes(0)
		if err != nil {
			t.Fatalf("no answer to the goodbye: %v", err)
		}
		if m, err := protocol.Decode(b); err == nil && m.Kind == protocol.KindBye {
			break
		}
	}
	if err := loc.EnsureImage(ctx, loadOne(t, path), "", nil); err != nil {
		t.Fatalf("upload once the other one ended: %v", err)
	}
}

// replyTo reads a raw client's messages until the reply to request id.
func replyTo(t *testing.T, sock *zmq.Socket, id uint64) *protocol.Msg {
	t.Helper()
	for {
		b, err := sock.RecvBytes(0)
		if err != nil {
			t.Fatalf("no reply to request %d: %v", id, err)
		}
		m, err := protocol.Decode(b)
		if err == nil && m.Kind == protocol.KindReply && m.ID == id {
			if m.Err != nil {
				t.Fatalf("request %d: %v", id, m.Err)
			}
			return m
		}
	}
}

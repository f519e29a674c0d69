package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// rawDealer is an authenticated ZeroMQ client that speaks the wire by hand,
// so a test can claim any routing id or session name. identity "" leaves
// the routing id to the master.
func rawDealer(t *testing.T, env *testenv.Env, kp protocol.KeyPair, identity string) *zmq.Socket {
	t.Helper()
	sock, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	sock.SetLinger(0)
	if identity != "" {
		sock.SetIdentity(identity)
	}
	sock.SetRcvtimeo(time.Second)
	if err := sock.ClientAuthCurve(env.Loc.Config.MasterKey, kp.Public, kp.Secret); err != nil {
		t.Fatal(err)
	}
	if err := sock.Connect(env.Loc.Config.Master); err != nil {
		t.Fatal(err)
	}
	return sock
}

func encodeMsg(t *testing.T, m *protocol.Msg) []byte {
	t.Helper()
	b, err := protocol.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(t *testing.T, id uint64, op, container string, body any) []byte {
	t.Helper()
	m, err := protocol.NewRequest(id, op, body)
	if err != nil {
		t.Fatal(err)
	}
	m.Container = container
	return encodeMsg(t, m)
}

// drain reads what a raw client received until it has been quiet for the
// socket's receive timeout.
func drain(sock *zmq.Socket) []*protocol.Msg {
	var out []*protocol.Msg
	for {
		b, err := sock.RecvBytes(0)
		if err != nil {
			return out
		}
		if m, err := protocol.Decode(b); err == nil {
			out = append(out, m)
		}
	}
}

// A client of another account that claims the victim's session — as its
// ZeroMQ routing id, or as the session name its messages carry — gets
// nothing of the victim's (no reply, event or output; only refusals of its
// own requests), and the victim's session goes on working.
func TestSessionCannotBeTakenOver(t *testing.T) {
	env := testenv.Start(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	victim := env.Connect(t)
	ctr, err := victim.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	thief := env.NewAccount(t, "thief")
	session := victim.SessionID()
	byID := rawDealer(t, env, thief, session)
	byName := rawDealer(t, env, thief, "")
	for i, sock := range []*zmq.Socket{byID, byName} {
		send := func(b []byte) {
			var err error
			if sock == byID {
				_, err = sock.SendBytes(b, 0)
			} else {
				_, err = sock.SendMessage(session, b)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		base := uint64(100 * (i + 1))
		send(request(t, base+1, protocol.OpHello, "", protocol.HelloRequest{}))
		send(encodeMsg(t, &protocol.Msg{Kind: protocol.KindPing}))
		send(request(t, base+2, protocol.OpList, "", protocol.Empty{}))
		send(request(t, base+3, protocol.OpExec, ctr.ID, protocol.ExecRequest{Proc: "stolen", Args: []string{"touch", "/stolen"}, Stdout: 77}))
	}

	// The victim's session is untouched: it runs, streams output, lists.
	for i := 0; i < 3; i++ {
		out, code, err := ctr.Run(ctx, "echo", "still mine")
		if err != nil || code != 0 || string(out) != "still mine\n" {
			t.Fatalf("victim's run after the attempt: %q %d %v", out, code, err)
		}
	}
	if list, err := victim.ListContainers(ctx); err != nil || len(list) != 1 {
		t.Fatalf("victim's list: %v %v", list, err)
	}
	if _, err := victim.Node().SpawnContainer(ctx, "busybox", sdk.Command("echo", "events")); err != nil {
		t.Fatal(err)
	}

	for i, sock := range []*zmq.Socket{byID, byName} {
		got := drain(sock)
		if len(got) != 3 {
			t.Errorf("thief %d: got %d messages, want refusals of its 3 requests: %+v", i, len(got), got)
		}
		for _, m := range got {
			if m.Kind != protocol.KindReply || m.ID/100 != uint64(i+1) || !errors.Is(m.Err, protocol.ErrPermission) {
				t.Errorf("thief %d received %+v (err %v)", i, m, m.Err)
			}
		}
	}
	// The thief's exec never ran.
	if _, code, err := ctr.Run(ctx, "test", "-e", "/stolen"); err != nil || code == 0 {
		t.Fatalf("the thief's exec ran in the victim's container (exit %d, %v)", code, err)
	}
}

// Removing an account while its client is connected ends its sessions at
// once: its containers leave containerd, its client's calls are refused,
// and its key cannot connect again.
func TestRemovedAccountEndsItsSessions(t *testing.T) {
	env := testenv.Start(t)
	ctx := testenv.Ctx(t, 90*time.Second)
	kp := env.NewAccount(t, "leaving")
	loc := env.Connect(t, sdk.WithKeyPair(kp))
	if _, err := loc.ImportImages(ctx, env.Dir+"/busybox.tar", nil); err != nil {
		t.Fatal(err)
	}
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000")); err != nil {
		t.Fatal(err)
	}
	if n := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers; n != 2 {
		t.Fatalf("%d containers before the removal", n)
	}
	if err := env.Loc.Master.RemoveAccount("leaving"); err != nil {
		t.Fatal(err)
	}
	// The client is told at once that its containers are gone, and why.
	if _, err := ctr.Wait(ctx); err == nil || !strings.Contains(err.Error(), "account removed") {
		t.Fatalf("wait on a container of a removed account: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the removed account's containers gone from containerd", func() bool {
		return testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace()).Containers == 0
	})
	if _, _, err := ctr.Run(ctx, "true"); !errors.Is(err, sdk.ErrPermission) {
		t.Fatalf("run after the account was removed: %v, want ErrPermission", err)
	}
	if _, err := loc.ListContainers(ctx); !errors.Is(err, sdk.ErrPermission) {
		t.Fatalf("list after the account was removed: %v, want ErrPermission", err)
	}
	_, err = sdk.Connect(ctx, sdk.WithDir(env.ClientDir), sdk.WithLocation(env.Loc.Config.Name), sdk.WithKeyPair(kp))
	if !errors.Is(err, sdk.ErrPermission) {
		t.Fatalf("reconnect of a removed account: %v, want ErrPermission", err)
	}
}

package integration

import (
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// TestClientCannotSendNodeOperations: the master's own operations on a
// node (session.end, gateway.dial, …) sent by a client about its own
// container are refused; a session.end naming another session would
// otherwise destroy that session's containers.
func TestClientCannotSendNodeOperations(t *testing.T) {
	env := testenv.Start(t)
	victim := env.Connect(t)
	ctx := testenv.Ctx(t, time.Minute)
	vc, err := victim.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sdk.ClientKey(env.ClientDir)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	sock.SetLinger(0)
	sock.SetIdentity("raw-attacker")
	sock.SetRcvtimeo(20 * time.Second)
	if err := sock.ClientAuthCurve(env.Loc.Config.MasterKey, kp.Public, kp.Secret); err != nil {
		t.Fatal(err)
	}
	if err := sock.Connect(env.Loc.Config.Master); err != nil {
		t.Fatal(err)
	}
	defer sock.SendBytes(mustEncodeMsg(t, &protocol.Msg{Kind: protocol.KindBye}), 0)
	call := func(id uint64, op string, body any, container string) *protocol.Msg {
		t.Helper()
		req, err := protocol.NewRequest(id, op, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Container = container
		if _, err := sock.SendBytes(mustEncodeMsg(t, req), 0); err != nil {
			t.Fatal(err)
		}
		for {
			b, err := sock.RecvBytes(0)
			if err != nil {
				t.Fatalf("%s: no reply: %v", op, err)
			}
			m, err := protocol.Decode(b)
			if err == nil && m.Kind == protocol.KindReply && m.ID == id {
				return m
			}
		}
	}
	if r := call(1, protocol.OpHello, protocol.HelloRequest{}, ""); r.Err != nil {
		t.Fatalf("hello: %v", r.Err)
	}
	r := call(2, protocol.OpSpawn, protocol.SpawnRequest{Image: "busybox", Asleep: true}, "")
	var rep protocol.SpawnReply
	if r.Err != nil || r.DecodeBody(&rep) != nil {
		t.Fatalf("spawn: %v", r.Err)
	}
	for i, op := range []string{protocol.OpSessionEnd, protocol.OpSessionStreamsReset} {
		if r := call(uint64(10+i), op, protocol.SessionEnd{Session: victim.SessionID()}, rep.ID); r.Err == nil {
			t.Errorf("%s from a client was carried out", op)
		}
	}
	if r := call(20, protocol.OpGatewayDial, protocol.GatewayDial{Session: victim.SessionID(),
		Dial: protocol.TunnelDial{Port: 80, Up: 1, Down: 2}}, rep.ID); r.Err == nil {
		t.Error("gateway.dial from a client was carried out")
	}
	if out, code, err := vc.Run(ctx, "true"); err != nil || code != 0 {
		t.Fatalf("the victim's container is hurt: %q %d %v", out, code, err)
	}
}

func mustEncodeMsg(t *testing.T, m *protocol.Msg) []byte {
	t.Helper()
	b, err := protocol.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// An authenticated client that sends garbage, oversized and ill-typed
// messages straight to the master's port neither crashes nor hangs it.
func TestMalformedMessagesDoNotHurtTheMaster(t *testing.T) {
	env := testenv.Start(t)
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
	sock.SetIdentity("raw-client")
	sock.SetRcvtimeo(5 * time.Second)
	if err := sock.ClientAuthCurve(env.Loc.Config.MasterKey, kp.Public, kp.Secret); err != nil {
		t.Fatal(err)
	}
	if err := sock.Connect(env.Loc.Config.Master); err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 4096)
	rand.Read(junk)
	bad := [][][]byte{
		{junk},
		{[]byte{}},
		{[]byte{0xa1, 0x01}},              // truncated CBOR
		{[]byte("two"), []byte("frames")}, // wrong framing
		{mustEncodeRaw(map[int]any{1: 1, 2: 1, 3: "spawn", 5: []byte{0xff, 0xff}})},                       // body is not CBOR
		{mustEncodeRaw(map[int]any{1: 1, 2: 2, 3: "spawn", 5: mustEncodeRaw(map[string]any{"x": 1})})},    // wrong body shape
		{mustEncodeRaw(map[int]any{1: 1, 2: 3, 3: "no.such.op"})},                                         // unknown op
		{mustEncodeRaw(map[int]any{1: 4, 6: 99, 8: []byte("data for no stream"), 11: "nosuchcontainer"})}, // stray data
		{bytes.Repeat([]byte{0x42}, 3<<20)},                                                               // over the size limit
	}
	for _, frames := range bad {
		parts := make([]any, len(frames))
		for i, f := range frames {
			parts[i] = f
		}
		if _, err := sock.SendMessage(parts...); err != nil {
			t.Fatal(err)
		}
	}
	// The oversized message makes libzmq drop the connection; it reconnects.
	// The master must still answer a proper hello, on this socket or a fresh session.
	ctx := testenv.Ctx(t, 20*time.Second)
	loc := env.Connect(t)
	if _, err := loc.RefreshOffer(ctx); err != nil {
		t.Fatalf("master stopped answering: %v", err)
	}
	hello, _ := protocol.NewRequest(77, protocol.OpHello, protocol.HelloRequest{})
	b, _ := protocol.Encode(hello)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sock.SendBytes(b, 0)
		reply, err := sock.RecvBytes(0)
		if err != nil {
			continue
		}
		m, err := protocol.Decode(reply)
		if err == nil && m.Kind == protocol.KindReply && m.ID == 77 && m.Err == nil {
			return
		}
		if err == nil && m.Kind == protocol.KindReply && m.Err != nil && m.ID != 77 {
			continue // an error reply to one of the bad requests: expected
		}
	}
	t.Fatal("the raw client never got an answer to a valid hello after the junk")
}

func mustEncodeRaw(v any) []byte {
	b, err := protocol.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// A network interruption of a few seconds is recovered: the session, its
// containers and its streams survive.
func TestShortNetworkInterruptionIsRecovered(t *testing.T) {
	env := testenv.Start(t, testenv.SessionTimeout(30*time.Second))
	proxy := newFlakyProxy(t, env.Loc.Config.Master)
	ctx := testenv.Ctx(t, 60*time.Second)
	loc, err := sdk.Connect(ctx, sdk.WithDir(env.ClientDir), sdk.WithMaster(proxy.addr(), env.Loc.Config.MasterKey),
		sdk.WithHeartbeat(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Close()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	proxy.cut(3 * time.Second)
	testenv.Eventually(t, 20*time.Second, "a run after the interruption", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		out, code, err := ctr.Run(rctx, "echo", "back")
		return err == nil && code == 0 && string(out) == "back\n"
	})
}

// flakyProxy forwards TCP to the master and can drop every connection for a while.
type flakyProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	downTil time.Time
	conns   []net.Conn
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target[len("tcp://"):]}
	t.Cleanup(func() { ln.Close(); p.dropAll() })
	go p.serve()
	return p
}

func (p *flakyProxy) addr() string { return "tcp://" + p.ln.Addr().String() }

func (p *flakyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := time.Now().Before(p.downTil)
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

func (p *flakyProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *flakyProxy) cut(d time.Duration) {
	p.mu.Lock()
	p.downTil = time.Now().Add(d)
	p.mu.Unlock()
	p.dropAll()
}

var _ = errors.Is

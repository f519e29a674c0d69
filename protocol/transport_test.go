package protocol

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func testServer(t *testing.T) (*Server, KeyPair) {
	t.Helper()
	skp, err := NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("tcp://127.0.0.1:*", skp, "test-"+t.Name(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, skp
}

func TestTransportRefusesUnknownKey(t *testing.T) {
	srv, skp := testServer(t)
	ckp, _ := NewKeyPair()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, srv.Addr(), skp.Public, ckp, "sess-unknown", slog.Default())
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("unknown key: got %v, want ErrPermission", err)
	}
}

func TestTransportEchoWithAuthenticatedKey(t *testing.T) {
	srv, skp := testServer(t)
	ckp, _ := NewKeyPair()
	srv.Allow(ckp.Public)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.Addr(), skp.Public, ckp, "sess-1", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, _ := NewRequest(7, OpHello, HelloRequest{Client: "t"})
	if err := c.Send(req); err != nil {
		t.Fatal(err)
	}
	select {
	case in := <-srv.Recv():
		if in.Key != ckp.Public || in.Peer != "sess-1" || in.Msg.ID != 7 {
			t.Fatalf("got key %q peer %q id %d", in.Key, in.Peer, in.Msg.ID)
		}
		srv.Send(in.Peer, in.Msg.Reply(Offer{}, nil))
	case <-ctx.Done():
		t.Fatal("no message at server")
	}
	select {
	case r := <-c.Recv():
		if r.Kind != KindReply || r.ID != 7 {
			t.Fatalf("bad reply %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("no reply")
	}
}

func dialT(t *testing.T, srv *Server, skp, ckp KeyPair, session string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.Addr(), skp.Public, ckp, session, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func recvT(t *testing.T, ch <-chan *Msg) *Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
		return nil
	}
}

// A session name is bound to the key that first used it: another key that
// names it is refused and moves nothing; the same key (a reconnect) does.
func TestTransportBindsSessionToKey(t *testing.T) {
	srv, skp := testServer(t)
	victimKey, _ := NewKeyPair()
	thiefKey, _ := NewKeyPair()
	srv.Allow(victimKey.Public)
	srv.Allow(thiefKey.Public)
	victim := dialT(t, srv, skp, victimKey, "sess-v")
	req, _ := NewRequest(1, OpHello, HelloRequest{})
	victim.Send(req)
	if in := recvIn(t, srv); in.Peer != "sess-v" || in.Key != victimKey.Public {
		t.Fatalf("got %q from %q", in.Peer, in.Key)
	}

	thief := dialT(t, srv, skp, thiefKey, "sess-v")
	req2, _ := NewRequest(2, OpHello, HelloRequest{})
	thief.Send(req2)
	r := recvT(t, thief.Recv())
	if r.Kind != KindReply || r.ID != 2 || !errors.Is(r.Err, ErrPermission) {
		t.Fatalf("thief got %+v, want a permission error", r)
	}
	select {
	case in := <-srv.Recv():
		t.Fatalf("the thief's message reached the server: %+v", in)
	default:
	}
	srv.Send("sess-v", &Msg{Kind: KindEvent, Op: "for-victim"})
	if m := recvT(t, victim.Recv()); m.Op != "for-victim" {
		t.Fatalf("victim got %+v", m)
	}
	select {
	case m := <-thief.Recv():
		t.Fatalf("thief received %+v", m)
	case <-time.After(200 * time.Millisecond):
	}

	// The victim's key from a new connection resumes the name.
	again := dialT(t, srv, skp, victimKey, "sess-v")
	again.Send(&Msg{Kind: KindPing})
	// A new connection is a new link: the old one is reset first.
	if in := recvIn(t, srv); in.Peer != "sess-v" || in.Msg.Kind != KindLinkReset || !errors.Is(in.Msg.Err, ErrUnavailable) {
		t.Fatalf("got %q %v", in.Peer, in.Msg.Kind)
	}
	if in := recvIn(t, srv); in.Peer != "sess-v" || in.Msg.Kind != KindPing {
		t.Fatalf("got %q %v", in.Peer, in.Msg.Kind)
	}
	srv.Send("sess-v", &Msg{Kind: KindEvent, Op: "to-new"})
	if m := recvT(t, again.Recv()); m.Op != "to-new" {
		t.Fatalf("reconnected victim got %+v", m)
	}

	// While the victim has no connection at all, the name stays its own.
	victim.Close()
	again.Close()
	thief.Send(req2)
	if r := recvT(t, thief.Recv()); !errors.Is(r.Err, ErrPermission) {
		t.Fatalf("thief got %+v while the victim was away", r)
	}
	srv.Send("sess-v", &Msg{Kind: KindEvent, Op: "while-away"})
	select {
	case m := <-thief.Recv():
		t.Fatalf("thief received %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
	// Once the session is over, the name is free (Forget takes effect
	// asynchronously: the thief tries until it is through).
	srv.Forget("sess-v")
	deadline := time.After(5 * time.Second)
	for {
		thief.Send(req2)
		select {
		case in := <-srv.Recv():
			if in.Key != thiefKey.Public || in.Peer != "sess-v" {
				t.Fatalf("after Forget: %q from %q", in.Peer, in.Key)
			}
			return
		case <-thief.Recv(): // refused: not yet forgotten
		case <-deadline:
			t.Fatal("the name was never freed")
		}
	}
}

func recvIn(t *testing.T, srv *Server) Incoming {
	t.Helper()
	select {
	case in := <-srv.Recv():
		return in
	case <-time.After(5 * time.Second):
		t.Fatal("nothing reached the server")
		return Incoming{}
	}
}

// A name bound with Bind (a session a restarted master restores) is its
// key's before its client speaks again: another key is refused, the owner
// takes it up, and what is sent to it before then is dropped.
func TestTransportBindRestoresOwnership(t *testing.T) {
	srv, skp := testServer(t)
	ownerKey, _ := NewKeyPair()
	thiefKey, _ := NewKeyPair()
	srv.Allow(ownerKey.Public)
	srv.Allow(thiefKey.Public)
	srv.Bind("sess-r", ownerKey.Public)
	srv.Send("sess-r", &Msg{Kind: KindEvent, Op: "nobody-there"})

	thief := dialT(t, srv, skp, thiefKey, "sess-r")
	req, _ := NewRequest(1, OpHello, HelloRequest{})
	thief.Send(req)
	if r := recvT(t, thief.Recv()); r.Kind != KindReply || !errors.Is(r.Err, ErrPermission) {
		t.Fatalf("thief got %+v, want a permission error", r)
	}
	owner := dialT(t, srv, skp, ownerKey, "sess-r")
	owner.Send(&Msg{Kind: KindPing})
	if in := recvIn(t, srv); in.Peer != "sess-r" || in.Key != ownerKey.Public {
		t.Fatalf("got %q from %q", in.Peer, in.Key)
	}
	srv.Send("sess-r", &Msg{Kind: KindEvent, Op: "for-owner"})
	if m := recvT(t, owner.Recv()); m.Op != "for-owner" {
		t.Fatalf("owner got %+v", m)
	}
}

// A client whose server restarted (a new incarnation on the same address)
// is told its link was reset, with ErrUnavailable, instead of having its
// messages silently lost; a new link then works.
func TestTransportServerRestartResetsLink(t *testing.T) {
	skp, _ := NewKeyPair()
	ckp, _ := NewKeyPair()
	domain := "test-" + t.Name()
	srv, err := Listen("tcp://127.0.0.1:*", skp, domain, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv.Allow(ckp.Public)
	addr := srv.Addr()
	c := dialT(t, srv, skp, ckp, "sess-r")
	c.Send(&Msg{Kind: KindPing})
	in := recvIn(t, srv)
	srv.Send(in.Peer, &Msg{Kind: KindPong})
	if m := recvT(t, c.Recv()); m.Kind != KindPong {
		t.Fatalf("got %v", m.Kind)
	}
	srv.Close()

	var srv2 *Server
	for i := 0; ; i++ { // the port may linger a moment
		if srv2, err = Listen(addr, skp, domain, slog.Default()); err == nil {
			break
		}
		if i == 100 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(srv2.Close)
	srv2.Allow(ckp.Public)
	req, _ := NewRequest(3, OpHello, HelloRequest{})
	c.Send(req) // meant for the old server: must not be taken as part of a new link
	m := recvT(t, c.Recv())
	if m.Kind != KindLinkReset || !errors.Is(m.Err, ErrUnavailable) {
		t.Fatalf("client got %v %v, want a link reset", m.Kind, m.Err)
	}
	c.Send(req)
	for { // the new link starts with pings (one per reset and reconnection)
		in := recvIn(t, srv2)
		if in.Msg.Kind == KindPing {
			continue
		}
		if in.Msg.Kind != KindRequest || in.Msg.ID != 3 {
			t.Fatalf("new server got %+v", in.Msg)
		}
		break
	}
	select {
	case in := <-srv2.Recv():
		if in.Msg.Kind != KindPing {
			t.Fatalf("new server got %+v after the request", in.Msg)
		}
	default:
	}
}

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

package sdk

import (
	"context"
	"errors"
	"testing"

	"github.com/tffs/tffs/protocol"
)

// FileWriter against a fake master: the request it makes, the size Close
// reports, and a node's failure reaching later writes and Close.

func TestFileWriterRequestAndClose(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	ctx := context.Background()
	w, err := c.OpenWriter(ctx, "/tmp/f", 100)
	if err != nil {
		t.Fatal(err)
	}
	req := f.expect(t, protocol.OpFilePut)
	var body protocol.FilePutRequest
	if err := req.DecodeBody(&body); err != nil {
		t.Fatal(err)
	}
	if !body.InPlace || body.Offset != 100 || body.Path != "/tmp/f" || body.Stream == 0 || req.Container != "c1" {
		t.Fatalf("request %+v for container %q", body, req.Container)
	}
	if n, err := w.Write(ctx, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	if w.Offset() != 105 {
		t.Fatalf("offset %d, want 105", w.Offset())
	}
	closed := make(chan error, 1)
	var size int64
	go func() {
		var err error
		size, err = w.Close(ctx)
		closed <- err
	}()
	f.reply(req, protocol.WriteReply{N: 5, Size: 105}, nil)
	if err := recvWithin(t, closed); err != nil || size != 105 {
		t.Fatalf("close: size %d, %v", size, err)
	}
	if _, err := w.Write(ctx, []byte("x")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestFileWriterNodeFailure(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	ctx := context.Background()
	if _, err := c.OpenWriter(ctx, "/tmp/f", -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative offset: %v", err)
	}
	w, err := c.OpenWriter(ctx, "/tmp/dir", 0)
	if err != nil {
		t.Fatal(err)
	}
	req := f.expect(t, protocol.OpFilePut)
	f.reply(req, nil, protocol.Errorf(protocol.ErrInvalid, "/tmp/dir: is a directory"))
	// The failure reaches the writer: a write fails with it (once the
	// reply has come), and Close reports it.
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		_, werr = w.Write(ctx, []byte("x"))
	}
	if !errors.Is(werr, ErrInvalid) {
		t.Fatalf("write after the node failed: %v", werr)
	}
	if _, err := w.Close(ctx); !errors.Is(err, ErrInvalid) {
		t.Fatalf("close after the node failed: %v", err)
	}
}

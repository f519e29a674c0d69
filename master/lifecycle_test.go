package master

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tffs/tffs/protocol"
)

// newOn opens a master in dir listening on addr; the test fails if it cannot.
func newOn(t *testing.T, dir, addr string) *Master {
	t.Helper()
	m, err := New(Config{Dir: dir, Listen: addr})
	if err != nil {
		t.Fatalf("New on %s: %v", addr, err)
	}
	return m
}

// A master that is never run is released by Close: no goroutine is left,
// the port and the store are free for the next master, and its admin
// socket stops and is removed. Close may be called again.
func TestCloseWithoutRun(t *testing.T) {
	dir := t.TempDir()
	first := newOn(t, dir, "tcp://127.0.0.1:*")
	addr := first.Addr()
	if err := first.Close(); err != nil { // also starts the process-wide ZAP handler
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()

	m := newOn(t, dir, addr) // same port, same store
	sock := filepath.Join(dir, AdminSocket)
	adminErr := make(chan error, 1)
	go func() { adminErr <- m.ServeAdmin(context.Background(), sock) }()
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case err := <-adminErr:
			t.Fatalf("admin socket ended before Close: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-m.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	select {
	case err := <-adminErr:
		if err != nil {
			t.Fatalf("admin socket: %v", err)
		}
	default:
		t.Fatal("Close returned before the admin socket stopped")
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin socket left behind: %v", err)
	}
	if err := m.ServeAdmin(context.Background(), sock); !errors.Is(err, protocol.ErrUnavailable) {
		t.Fatalf("ServeAdmin after Close = %v, want ErrUnavailable", err)
	}
	if err := m.Run(context.Background()); !errors.Is(err, protocol.ErrBusy) {
		t.Fatalf("Run after Close = %v, want ErrBusy", err)
	}
	goleak.VerifyNone(t, ignore)

	newOn(t, dir, addr).Close()
}

// Close stops a running master: Run returns, every goroutine ends, the
// port is free again, and Close may be repeated.
func TestCloseStopsRun(t *testing.T) {
	dir := t.TempDir()
	warm := newOn(t, dir, "tcp://127.0.0.1:*")
	addr := warm.Addr()
	warm.Close()
	ignore := goleak.IgnoreCurrent()

	m := newOn(t, dir, addr)
	ran := make(chan error, 1)
	go func() { ran <- m.Run(context.Background()) }()
	go m.ServeAdmin(context.Background(), filepath.Join(dir, AdminSocket))
	// The master is serving once a call through its loop is answered.
	if err := m.run(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	goleak.VerifyNone(t, ignore)
	newOn(t, dir, addr).Close()
}

// An admin socket that cannot be created is reported, not dropped.
func TestServeAdminReportsErrors(t *testing.T) {
	m := newOn(t, t.TempDir(), "tcp://127.0.0.1:*")
	defer m.Close()
	err := m.ServeAdmin(context.Background(), filepath.Join(t.TempDir(), "missing", "admin.sock"))
	if err == nil {
		t.Fatal("ServeAdmin on a path in a missing directory succeeded")
	}
}

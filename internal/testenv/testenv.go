// Package testenv starts real tffs locations inside `go test`: a master, a
// node, a private containerd and runc, with the busybox image imported.
// When a prerequisite is missing a test is skipped — unless CI=true, where
// it fails, because a skipped integration test proves nothing.
package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// Require checks what integration tests need: root, containerd, runc,
// busybox-static and libzmq (linked in). It skips the test, or fails it
// under CI=true.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		missing = append(missing, "/bin/busybox (busybox-static)")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("integration prerequisites missing: %v (run `make deps`)", missing)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Env is a running location for a test.
type Env struct {
	Loc       *location.Location
	Dir       string
	ClientDir string
}

// Option adjusts a test location.
type Option func(*location.Config)

// SessionTimeout sets the master's session GC timeout.
func SessionTimeout(d time.Duration) Option {
	return func(c *location.Config) { c.SessionTimeout = d }
}

// Containerd makes the node use an existing containerd socket.
func Containerd(sock string) Option { return func(c *location.Config) { c.Containerd = sock } }

// NodeConfig adjusts the node's config (hardening, trusted images).
func NodeConfig(f func(*node.Config)) Option { return func(c *location.Config) { c.NodeConfig = f } }

// NoNode starts only the master.
func NoNode() Option { return func(c *location.Config) { c.NoNode = true } }

// Start runs a location for the test and stops it at cleanup. Its state is
// under a short /tmp path (unix socket paths are limited to 108 bytes).
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	Require(t)
	dir, err := os.MkdirTemp("/tmp", "tffs-")
	if err != nil {
		t.Fatal(err)
	}
	// A name of its own per location, so that locations running at the same
	// time on this machine (other test packages, a developer's) never share
	// a containerd namespace or network-namespace prefix.
	name := "t" + filepath.Base(dir)[len("tffs-"):]
	cfg := location.Config{Dir: dir, ClientDir: filepath.Join(dir, "client"), Name: name, Listen: "tcp://127.0.0.1:*", Log: Logger(t)}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	loc, err := location.Up(ctx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("location up: %v", err)
	}
	e := &Env{Loc: loc, Dir: dir, ClientDir: cfg.ClientDir}
	t.Cleanup(func() {
		if err := loc.Stop(); err != nil {
			t.Errorf("location stop: %v", err)
		}
		os.RemoveAll(dir)
	})
	return e
}

// Namespace is the containerd namespace of the location's node.
func (e *Env) Namespace() string { return e.Loc.Node.Namespace() }

// Connect opens a new session as the location's local account; it is
// closed at cleanup.
func (e *Env) Connect(t testing.TB, opts ...sdk.Option) *sdk.Location {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts = append([]sdk.Option{sdk.WithDir(e.ClientDir), sdk.WithLocation(e.Loc.Config.Name)}, opts...)
	loc, err := sdk.Connect(ctx, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { loc.Close() })
	return loc
}

// NewAccount admits a fresh key pair under a new account of the master and
// returns it (connect with sdk.WithKeyPair).
func (e *Env) NewAccount(t testing.TB, name string) protocol.KeyPair {
	t.Helper()
	kp, err := protocol.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Loc.Master.AddAccount(name, kp.Public); err != nil {
		t.Fatalf("add account %s: %v", name, err)
	}
	return kp
}

// Logger is a slog logger writing to the test log (quiet unless TFFS_DEBUG is set).
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("TFFS_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the tffs command once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "tffs-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tffs")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/tffs")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build tffs: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Ctx is a context for one test step.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

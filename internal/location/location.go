// Package location runs a whole tffs location in one process: a master, a
// node (with a private containerd unless one is given) and a local account,
// with the busybox test image imported. `tffs location up` and the
// integration tests (internal/testenv) are built on it.
package location

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/master"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// Config configures an embedded location.
type Config struct {
	Dir            string             // location state (master/, node/, images)
	ClientDir      string             // where the client key and location config go (default ~/.tffs)
	Name           string             // location name in the client config (default "local")
	Listen         string             // master endpoint (default tcp://127.0.0.1:2020)
	Containerd     string             // containerd socket; "" = private containerd
	SessionTimeout time.Duration      // master's session GC timeout (default 2m)
	Busybox        string             // busybox-static binary for the test image (default /bin/busybox; "-" = none)
	NoNode         bool               // start only the master
	NodeConfig     func(*node.Config) // adjusts the node's config before it starts (tests)
	// LayerMaxBytes and LayerMaxEntries are the master's limits on reading
	// layers (master.Config); 0 = the master's defaults.
	LayerMaxBytes   int64
	LayerMaxEntries int
	Log             *slog.Logger

	// HTTPListen and HTTPSListen are the master's web gateway addresses
	// ("" = none).
	HTTPListen, HTTPSListen string
	// GatewayTimeout is the gateway's wait for a container's answer
	// (master.Config.GatewayTimeout; 0 = its default).
	GatewayTimeout time.Duration
}

// Location is a running embedded location.
type Location struct {
	Master    *master.Master
	Node      *node.Node
	Config    sdk.LocationConfig
	ClientDir string

	cancelNode, cancelMaster        context.CancelFunc
	nodeDone, masterDone, adminDone *result
	once                            sync.Once

	stopping atomic.Bool // Stop has begun: a part's end is no failure
	down     *result     // set by the first part that stops on its own
	downOnce sync.Once
}

// Up starts the location and returns when its node is in the offer and the
// busybox image is in the location.
func Up(ctx context.Context, cfg Config) (*Location, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("location: Dir is required: %w", protocol.ErrInvalid)
	}
	if cfg.ClientDir == "" {
		cfg.ClientDir = protocol.DefaultDir()
	}
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	if cfg.Listen == "" {
		cfg.Listen = fmt.Sprintf("tcp://127.0.0.1:%d", protocol.DefaultPort)
	}
	if cfg.Busybox == "" {
		cfg.Busybox = "/bin/busybox"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m, err := master.New(master.Config{Dir: filepath.Join(cfg.Dir, "master"), Listen: cfg.Listen,
		SessionTimeout: cfg.SessionTimeout, LayerMaxBytes: cfg.LayerMaxBytes, LayerMaxEntries: cfg.LayerMaxEntries,
		HTTPListen: cfg.HTTPListen, HTTPSListen: cfg.HTTPSListen, GatewayTimeout: cfg.GatewayTimeout,
		Log: cfg.Log.With("component", "master")})
	if err != nil {
		return nil, err
	}
	ck, err := sdk.ClientKey(cfg.ClientDir)
	if err != nil {
		return nil, err
	}
	if err := m.AddAccount(cfg.Name, ck.Public); err != nil && !errors.Is(err, protocol.ErrExists) {
		return nil, err
	}
	l := &Location{Master: m, ClientDir: cfg.ClientDir, masterDone: newResult(), nodeDone: newResult(),
		adminDone: newResult(), down: newResult()}
	mctx, mcancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancelMaster = mcancel
	go func() { l.masterDone.set(m.Run(mctx)) }()
	go func() { l.adminDone.set(m.ServeAdmin(mctx, filepath.Join(cfg.Dir, "master", master.AdminSocket))) }()
	go l.watch("master", l.masterDone, true)
	go l.watch("admin socket", l.adminDone, false) // a clean end follows the master's
	addr := strings.Replace(m.Addr(), "0.0.0.0", "127.0.0.1", 1)
	l.Config = sdk.LocationConfig{Name: cfg.Name, Master: addr, MasterKey: m.PublicKey()}
	if err := sdk.WriteConfig(cfg.ClientDir, l.Config); err != nil {
		l.Stop()
		return nil, err
	}
	if err := sdk.SetDefaultLocation(cfg.ClientDir, cfg.Name); err != nil {
		l.Stop()
		return nil, err
	}
	if cfg.NoNode {
		l.nodeDone.set(nil)
		return l, nil
	}
	if err := l.startNode(ctx, cfg, addr); err != nil {
		l.Stop()
		return nil, err
	}
	if err := l.prepare(ctx, cfg); err != nil {
		l.Stop()
		return nil, err
	}
	return l, nil
}

func (l *Location) startNode(ctx context.Context, cfg Config, addr string) error {
	ncfg := node.Config{Name: cfg.Name, Dir: filepath.Join(cfg.Dir, "node"), Master: addr,
		MasterKey: l.Master.PublicKey(), Containerd: cfg.Containerd, Log: cfg.Log.With("component", "node")}
	if cfg.NodeConfig != nil {
		cfg.NodeConfig(&ncfg)
	}
	n, err := node.New(ncfg)
	if err != nil {
		return err
	}
	if err := l.Master.AddNode(cfg.Name, n.PublicKey()); err != nil && !errors.Is(err, protocol.ErrExists) {
		return err
	}
	l.Node = n
	nctx, ncancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancelNode = ncancel
	go func() { l.nodeDone.set(n.Run(nctx)) }()
	go l.watch("node", l.nodeDone, true)
	return nil
}

// watch reports part's end as the location's failure unless Stop ended
// it; a clean end counts only if cleanEnd says so.
func (l *Location) watch(part string, r *result, cleanEnd bool) {
	err := r.wait()
	if l.stopping.Load() || (err == nil && !cleanEnd) {
		return
	}
	if err == nil {
		err = fmt.Errorf("%s stopped: %w", part, protocol.ErrUnavailable)
	} else {
		err = fmt.Errorf("%s stopped: %w", part, err)
	}
	l.downOnce.Do(func() { l.down.set(err) })
}

// prepare waits for the node to join and imports the busybox image.
func (l *Location) prepare(ctx context.Context, cfg Config) error {
	loc, err := sdk.Connect(ctx, sdk.WithDir(cfg.ClientDir), sdk.WithLocation(cfg.Name))
	if err != nil {
		return err
	}
	defer loc.Close()
	for {
		o, err := loc.RefreshOffer(ctx)
		if err != nil {
			return err
		}
		if len(o.Nodes) > 0 {
			break
		}
		select {
		case <-l.nodeDone.done:
			return fmt.Errorf("node stopped: %v", l.nodeDone.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if cfg.Busybox == "-" {
		return nil
	}
	tarPath := filepath.Join(cfg.Dir, "busybox.tar")
	if _, err := os.Stat(tarPath); err != nil {
		if err := ociarchive.BuildBusybox(cfg.Busybox, tarPath, "busybox:latest"); err != nil {
			return fmt.Errorf("build busybox image: %w", err)
		}
	}
	_, err = loc.ImportImages(ctx, tarPath, nil)
	return err
}

// Stop stops the node (removing its containers), then the master. It
// returns why the location went down if a part stopped on its own first
// (see Done), else what failed while stopping.
func (l *Location) Stop() error {
	var err error
	l.once.Do(func() {
		l.stopping.Store(true)
		if l.cancelNode != nil {
			l.cancelNode()
			err = l.nodeDone.wait()
		}
		l.cancelMaster()
		err = errors.Join(err, l.Master.Close(), l.adminDone.wait())
		l.masterDone.wait()
		select {
		case <-l.down.done:
			err = l.down.err // the cause, which the errors above follow from
		default:
		}
	})
	return err
}

// Done is closed when a part of the location (master, its admin socket,
// node) has stopped on its own; Err then says which and why. The others
// go on running until Stop.
func (l *Location) Done() <-chan struct{} { return l.down.done }

// Err is why the location went down once Done is closed (nil before).
func (l *Location) Err() error {
	select {
	case <-l.down.done:
		return l.down.err
	default:
		return nil
	}
}

// NodeDone is closed when the node daemon has stopped (on its own or by
// Stop); NodeErr then gives its result. Both may be used any number of times.
func (l *Location) NodeDone() <-chan struct{} { return l.nodeDone.done }

// NodeErr is the node daemon's result once NodeDone is closed.
func (l *Location) NodeErr() error {
	select {
	case <-l.nodeDone.done:
		return l.nodeDone.err
	default:
		return nil
	}
}

// ContainerdSocket is the containerd socket the node uses.
func (l *Location) ContainerdSocket() string { return l.Node.ContainerdSocket() }

package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/tffs/tffs/internal/lifecycle"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tffs/tffs/protocol"
)

// Config configures a master. Zero values take the defaults.
type Config struct {
	Dir            string        // state: keys, store, layers (required)
	Listen         string        // ZeroMQ endpoint, default tcp://0.0.0.0:2020
	SessionTimeout time.Duration // a silent session is garbage-collected after this (default 2m)
	NodeTimeout    time.Duration // a silent node is declared gone after this (default 30s)
	// LayerMaxBytes bounds the decompressed size of a layer the master
	// reads (to check its diff_id, to show an image's files before start);
	// default 64 GiB. A larger layer is refused with ErrLimit.
	LayerMaxBytes int64
	// LayerMaxEntries bounds the tar entries the master reads to build one
	// image's file tree (all its layers together); default 200000. Browsing
	// a larger image fails with ErrLimit.
	LayerMaxEntries int
	Limits          Limits // per-account limits (zero fields: defaults)
	Log             *slog.Logger

	// Network is the location's private range, an IPv4 /16 (one /24 per
	// node); "" = the one kept in the store, else one chosen at random.
	Network string
	// HTTPListen and HTTPSListen are the web gateway's addresses
	// (host:port); "" = none.
	HTTPListen, HTTPSListen string
	// GatewayTimeout is how long the gateway waits for a container's
	// response headers before it answers 504 and takes the container out
	// of its domain's rotation for a while (default 30s).
	GatewayTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = fmt.Sprintf("tcp://0.0.0.0:%d", protocol.DefaultPort)
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 2 * time.Minute
	}
	if c.NodeTimeout == 0 {
		c.NodeTimeout = 30 * time.Second
	}
	if c.LayerMaxBytes <= 0 {
		c.LayerMaxBytes = defaultLayerMaxBytes
	}
	if c.LayerMaxEntries <= 0 {
		c.LayerMaxEntries = defaultLayerMaxEntries
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.Limits.setDefaults()
}

// Master is a running master. Create it with New, then Run it.
type Master struct {
	cfg      Config
	log      *slog.Logger
	keys     protocol.KeyPair
	store    *store
	srv      *protocol.Server
	layerDir string
	trees    treeCache      // merged file trees of images browsed before start
	diffIDs  flight[string] // diff_id computations in progress, by layer digest
	limits   atomic.Pointer[Limits]
	warn     protocol.WarnLimiter
	// incarnation changes on every start: peers that see it change
	// know the master restarted (see Pong).
	incarnation string

	running  atomic.Bool         // Run's loop serves m.do
	stopping chan struct{}       // closed when Run starts to stop
	life     lifecycle.Lifecycle // Run once, Close any number of times (lifecycle.go)
	admin    adminSockets        // the sockets ServeAdmin serves
	// releaseErr is what failed closing the socket and store (set by
	// shutdown, before Run's result).
	releaseErr error

	do      chan func() // work for the actor goroutine
	streams *protocol.Streams
	calls   *protocol.Calls

	keysMu   sync.RWMutex
	accounts map[string]string // public key → account name
	nodeKeys map[string]string // public key → node name
	invites  invites           // one-time invitation keys (invite.go)

	// Owned by the actor goroutine.
	sessions   map[string]*session
	nodes      map[string]*node
	containers map[string]*container
	volumes    map[string]*volume   // by id (volume.go)
	net        netState             // address allocation (network.go)
	endpoints  map[string]*endpoint // published domains (gateway.go)
	gw         gateway

	wg sync.WaitGroup
}

// New opens (or creates) the master's state in cfg.Dir and binds its socket.
func New(cfg Config) (*Master, error) {
	cfg.setDefaults()
	if cfg.Dir == "" {
		return nil, fmt.Errorf("master: Dir is required: %w", protocol.ErrInvalid)
	}
	layerDir := filepath.Join(cfg.Dir, "layers", "sha256")
	if err := os.MkdirAll(layerDir, 0o700); err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	keys, err := protocol.LoadOrCreateKeyPair(cfg.Dir, "master")
	if err != nil {
		return nil, err
	}
	st, err := openStore(filepath.Join(cfg.Dir, "master.db"))
	if err != nil {
		return nil, err
	}
	m := &Master{
		cfg: cfg, log: cfg.Log, keys: keys, store: st, layerDir: layerDir, incarnation: randomID(8),
		do: make(chan func(), 64), stopping: make(chan struct{}), streams: protocol.NewStreams(), calls: protocol.NewCalls(),
		accounts: map[string]string{}, nodeKeys: map[string]string{},
		sessions: map[string]*session{}, nodes: map[string]*node{}, containers: map[string]*container{},
	}
	domain := "tffs-" + randomID(6)
	m.srv, err = protocol.Listen(cfg.Listen, keys, domain, cfg.Log)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("master: %w", err)
	}
	m.limits.Store(&cfg.Limits)
	m.srv.SetRouteIdle(max(time.Hour, 2*cfg.SessionTimeout))
	err = m.loadKeys()
	if err == nil {
		err = m.loadNetwork()
	}
	if err == nil {
		err = m.restore()
	}
	if err == nil {
		err = m.restoreVolumes()
	}
	if err == nil {
		err = m.restoreInvites()
	}
	if err == nil {
		err = m.startGateway()
	}
	if err != nil {
		m.srv.Close()
		st.close()
		return nil, err
	}
	m.cleanUploads()
	m.collectLayers()
	return m, nil
}

// PublicKey is the master's CURVE public key, which clients and nodes need.
func (m *Master) PublicKey() string { return m.keys.Public }

// Addr is the endpoint the master listens on (with the real port).
func (m *Master) Addr() string { return m.srv.Addr() }

// Run serves until ctx ends or Close is called, then ends every session
// and closes the master (socket, store, admin socket); it returns what
// failed on the way out (nil on a clean stop). Run may be called once;
// Close also releases a master that was never run.
func (m *Master) Run(ctx context.Context) (err error) {
	if !m.life.Start() {
		return fmt.Errorf("master: Run called twice or after Close: %w", protocol.ErrBusy)
	}
	defer func() {
		m.shutdown()
		m.life.Finish(errors.Join(err, m.releaseErr))
	}()
	m.log.Info("master running", "addr", m.Addr(), "key", m.keys.Public)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	m.running.Store(true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.life.Quit():
			return nil
		case in := <-m.srv.Recv():
			m.handle(in)
		case f := <-m.do:
			f()
		case now := <-tick.C:
			m.expire(now)
		}
	}
}

func (m *Master) shutdown() {
	close(m.stopping)
	// Sessions and their containers outlive the master: they are in the
	// store, and a restarted master takes them up again (see restore).
	m.streams.FailAll(fmt.Errorf("master stopping: %w", protocol.ErrUnavailable))
	m.calls.FailAll(fmt.Errorf("master stopping: %w", protocol.ErrUnavailable))
	time.Sleep(50 * time.Millisecond) // let the session-end notices reach the nodes
	m.releaseErr = m.release()
	m.running.Store(false)
	m.log.Info("master stopped")
}

// release closes the socket, waits for the master's goroutines and the
// admin socket, and closes the store.
func (m *Master) release() error {
	m.stopGateway()
	m.srv.Close()
	m.wg.Wait()
	m.admin.stop()
	if err := m.store.close(); err != nil {
		return fmt.Errorf("master: close store: %w", err)
	}
	return nil
}

// post queues f for the actor goroutine without waiting for it; f is
// dropped when the master is stopping.
func (m *Master) post(f func()) {
	select {
	case m.do <- f:
	case <-m.stopping:
	}
}

// onLoop executes f on the actor goroutine and waits for it, for work
// done off the loop that must change the master's state; ErrUnavailable
// when the master is stopping (f then may not run).
func (m *Master) onLoop(f func()) error {
	done := make(chan struct{})
	stopping := fmt.Errorf("master stopping: %w", protocol.ErrUnavailable)
	select {
	case m.do <- func() { f(); close(done) }:
	case <-m.stopping:
		return stopping
	}
	select {
	case <-done:
		return nil
	case <-m.stopping:
		return stopping
	}
}

// run executes f on the actor goroutine and waits for it.
func (m *Master) run(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case m.do <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handle dispatches one message by the kind of peer that sent it.
func (m *Master) handle(in protocol.Incoming) {
	m.keysMu.RLock()
	name, isNode := m.nodeKeys[in.Key]
	account, isClient := m.accounts[in.Key]
	m.keysMu.RUnlock()
	if isNode {
		m.handleNode(name, in)
		return
	}
	if isClient {
		m.handleClient(account, in)
		return
	}
	if m.handleInvite(in) {
		return
	}
	m.warn.Warn(m.log, in.Key, "message from a key that is no longer admitted: refused", "key", protocol.ShortKey(in.Key))
	if in.Msg.Kind == protocol.KindRequest {
		m.reply(in.Peer, in.Msg, nil, fmt.Errorf("this key is not admitted (account removed): %w", protocol.ErrPermission))
	}
}

func (m *Master) expire(now time.Time) {
	for id, s := range m.sessions {
		if now.Sub(s.lastSeen) > m.cfg.SessionTimeout {
			m.log.Info("session timed out", "account", s.account, "key", protocol.ShortKey(s.key))
			m.endSession(id, "session timed out")
		}
	}
	for _, n := range m.nodes {
		if n.online && now.Sub(n.lastSeen) > m.cfg.NodeTimeout {
			m.log.Warn("node timed out", "node", n.name)
			m.nodeGone(n, "node timed out")
		}
	}
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

package node

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

	"github.com/tffs/tffs/node/network"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/node/volume"
	"github.com/tffs/tffs/protocol"
)

// Config configures a node daemon.
type Config struct {
	Name          string // node name, as registered with the master
	Dir           string // state: key pair, private containerd
	Master        string // master endpoint, e.g. tcp://127.0.0.1:2020
	MasterKey     string // master public key
	Containerd    string // containerd socket; "" starts a private containerd under Dir
	Namespace     string // containerd namespace, default "tffs-<name>"
	StatsInterval time.Duration
	// Hardening confines every container (user namespace uid range,
	// pids limit, default memory limit); zero fields take the defaults.
	Hardening runtime.Hardening
	// TrustedImages are the config digests ("sha256:...") of the images
	// whose spawns may relax the hardening (sdk.Trusted and the like);
	// "*" trusts every image. Empty: no spawn may relax it.
	TrustedImages []string
	Log           *slog.Logger

	Volumes volume.Config // storage driver of the node's volumes (default: dir under Dir/volumes)
	// Addr is the address other nodes reach this one on: it joins the
	// location's LAN (routes to the other nodes' container subnets). ""
	// = no LAN to other hosts.
	Addr string
}

// Node is a node daemon. Create it with New, then Run it.
type Node struct {
	cfg  Config
	log  *slog.Logger
	keys protocol.KeyPair
	boot string

	life     lifecycle.Lifecycle // Run once, Close any number of times (lifecycle.go)
	ctrdDown atomic.Bool         // an outside containerd stopped answering (probe.go)
	probing  atomic.Bool         // a probe is running

	conn    *protocol.Client
	rt      *runtime.Runtime
	net     *network.Net // containers' addresses, firewall, tunnels (net.go)
	calls   *protocol.Calls
	streams *protocol.Streams
	nextID  uint64
	idMu    sync.Mutex

	mu         sync.Mutex
	socket     string // containerd socket in use
	containers map[string]*ctr
	master     string               // the master's incarnation, as its last hello reply named it
	ended      map[string]time.Time // sessions the master ended, so a late spawn is undone
	imageLocks map[string]*sync.Mutex

	fetchSent atomic.Int64  // file bytes sent to fetches
	helloNow  chan struct{} // a hello is due at once: the master restarted

	vol *nodeVolumes // persistent volumes (volumes.go)

	wg sync.WaitGroup
}

// FetchSent is how many bytes of container files the node has sent to
// fetches since it was made: a ranged or abandoned fetch shows here as
// the bytes it really moved.
func (n *Node) FetchSent() int64 { return n.fetchSent.Load() }

// New prepares a node: its key pair is created in Dir on first use.
func New(cfg Config) (*Node, error) {
	if cfg.Name == "" || cfg.Dir == "" || cfg.Master == "" || cfg.MasterKey == "" {
		return nil, fmt.Errorf("node: Name, Dir, Master and MasterKey are required: %w", protocol.ErrInvalid)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "tffs-" + cfg.Name
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	keys, err := protocol.LoadOrCreateKeyPair(cfg.Dir, "node")
	if err != nil {
		return nil, err
	}
	vol, err := openVolumes(cfg)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	rand.Read(b)
	return &Node{vol: vol,
		cfg: cfg, log: cfg.Log.With("node", cfg.Name), keys: keys, boot: hex.EncodeToString(b),
		calls: protocol.NewCalls(), streams: protocol.NewStreams(), helloNow: make(chan struct{}, 1),
		containers: map[string]*ctr{}, ended: map[string]time.Time{}, imageLocks: map[string]*sync.Mutex{},
	}, nil
}

// ContainerdSocket is the containerd socket the running node uses.
func (n *Node) ContainerdSocket() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.socket
}

// Namespace is the containerd namespace of the node's containers.
func (n *Node) Namespace() string { return n.cfg.Namespace }

// PublicKey is the node's CURVE public key, to register with the master.
func (n *Node) PublicKey() string { return n.keys.Public }

// Run connects containerd and the master and serves until ctx ends or
// Close is called; then it destroys every container it runs and stops a
// private containerd. It returns nil on such a stop, and an error when the
// node cannot start or its private containerd dies under it (the node
// then stops: the master tells the sessions their containers are gone).
// Run may be called once.
func (n *Node) Run(ctx context.Context) (err error) {
	if !n.life.Start() {
		return fmt.Errorf("node %s: Run called twice or after Close: %w", n.cfg.Name, protocol.ErrBusy)
	}
	defer func() { n.life.Finish(err) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	closed := make(chan struct{})
	defer func() {
		cancel()
		<-closed
		select {
		case <-n.life.Quit(): // Close during startup is a clean stop
			if errors.Is(err, context.Canceled) {
				err = nil
			}
		default:
		}
	}()
	go func() { // Close also cancels what Run is still starting
		defer close(closed)
		select {
		case <-n.life.Quit():
			cancel()
		case <-ctx.Done():
		}
	}()
	sock := n.cfg.Containerd
	var ctrdDone <-chan struct{} // closed if a private containerd exits
	var d *runtime.Daemon
	if sock == "" {
		d, err = runtime.StartContainerd(ctx, filepath.Join(n.cfg.Dir, "containerd"), n.log)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.cfg.Name, err)
		}
		defer func() {
			if serr := d.Stop(); serr != nil {
				n.log.Warn("stopping containerd", "err", serr)
			}
		}()
		sock = d.Socket()
		ctrdDone = d.Done()
		defer func() {
			select {
			case <-ctrdDone:
				if err == nil {
					err = fmt.Errorf("node %s: containerd exited: %s", n.cfg.Name, d.ExitStatus())
				}
			default:
			}
		}()
	}
	n.mu.Lock()
	n.socket = sock
	n.mu.Unlock()
	stateDir := filepath.Join(n.cfg.Dir, "state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	rt, err := runtime.New(ctx, runtime.Config{Socket: sock, Namespace: n.cfg.Namespace, StateDir: stateDir,
		Hardening: n.cfg.Hardening, Log: n.log})
	if err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	defer rt.Close()
	n.rt = rt
	if removed, err := rt.CleanupOrphans(ctx); err != nil {
		n.log.Warn("orphan cleanup", "err", err)
	} else if removed > 0 {
		n.log.Info("removed orphaned containers", "count", removed)
	}
	n.net = network.New(n.cfg.Namespace, n.log)
	if err := n.net.Cleanup(); err != nil { // what a crashed run left
		n.log.Warn("network cleanup", "err", err)
	}
	defer func() {
		if err := n.net.Cleanup(); err != nil {
			n.log.Warn("network cleanup", "err", err)
		}
	}()
	dialCtx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := protocol.Dial(dialCtx, n.cfg.Master, n.cfg.MasterKey, n.keys, "node:"+n.cfg.Name+":"+n.boot, n.log)
	dcancel()
	if err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	n.conn = conn
	defer conn.Close()
	cpu := &cpuSampler{}
	cpu.sample()
	n.goHello(ctx, cpu, true)
	tick := time.NewTicker(n.cfg.StatsInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done(): // ended, or Close
			n.shutdown()
			return nil
		case <-ctrdDone:
			n.log.Error("containerd exited under the node: stopping; the sessions are told their containers are gone",
				"status", d.ExitStatus())
			cancel()
			n.shutdown()
			return nil // the deferred check above gives the error
		case m := <-conn.Recv():
			n.dispatch(ctx, m)
		case <-tick.C:
			n.goHello(ctx, cpu, false)
			if ctrdDone == nil {
				n.goProbe(ctx, sock)
			}
		case <-n.helloNow:
			n.goHello(ctx, cpu, false)
		}
	}
}

// goHello says hello to the master in a goroutine that shutdown waits for.
func (n *Node) goHello(ctx context.Context, cpu *cpuSampler, first bool) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if n.hello(ctx, cpu) == nil && first {
			n.log.Info("node registered", "master", n.cfg.Master)
		}
	}()
}

// hello (re-)registers with the master, reports live stats and the
// containers the node runs, and destroys those the master says it does
// not know (its session ended while the node was away, or a restarted
// master has no record of them).
func (n *Node) hello(ctx context.Context, cpu *cpuSampler) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var rep protocol.NodeHelloReply
	// The report is sent under n.mu, so it is on the wire before the reply
	// to any spawn whose container it lacks: the master never takes a
	// spawn it answered for one the node lost.
	n.mu.Lock()
	h := protocol.NodeHello{Name: n.cfg.Name, Boot: n.boot, Stats: readStats(cpu, len(n.containers)), Addr: n.cfg.Addr}
	// One being destroyed is still reported: the master holds it until
	// the destroy's reply, and must not report it lost before.
	procs, truncated := 0, false
	for _, c := range n.containers {
		c.mu.Lock()
		nc := protocol.NodeContainer{ID: c.id, Boot: c.boot, Exited: c.exited, Exit: c.code}
		for id := range c.procs {
			if procs == maxReportedProcs {
				truncated = true
				break
			}
			nc.Procs = append(nc.Procs, id)
			procs++
		}
		h.Containers = append(h.Containers, nc)
		c.mu.Unlock()
	}
	wait := n.calls.Start(ctx, n.conn.Send, protocol.OpNodeHello, h, &rep, nil)
	n.mu.Unlock()
	if truncated {
		n.log.Warn("hello lists only some running processes", "listed", maxReportedProcs)
	}
	if err := wait(); err != nil {
		n.log.Warn("hello to master failed", "err", err)
		return err
	}
	n.setPeers(rep.Peers)
	n.mu.Lock()
	n.master = rep.Master
	var drop []*ctr
	for _, id := range rep.Drop {
		if c := n.containers[id]; c != nil && !c.isGone() {
			drop = append(drop, c)
		}
	}
	n.mu.Unlock()
	for _, c := range drop {
		n.destroy(ctx, c, "unknown to the master")
	}
	return nil
}

// pong notes the master's incarnation in a heartbeat answer: a new one
// means the master restarted, and is told at once what the node runs.
func (n *Node) pong(m *protocol.Msg) {
	var p protocol.Pong
	if m.DecodeBody(&p) != nil || p.Master == "" {
		return
	}
	n.mu.Lock()
	restarted := n.master != "" && n.master != p.Master
	n.mu.Unlock()
	if restarted {
		select {
		case n.helloNow <- struct{}{}:
		default:
		}
	}
}

func (n *Node) shutdown() {
	n.streams.FailAll(errors.New("node stopping"))
	n.mu.Lock()
	all := make([]*ctr, 0, len(n.containers))
	for _, c := range n.containers {
		all = append(all, c)
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range all {
		n.destroy(ctx, c, "node stopping")
	}
	n.send(&protocol.Msg{Kind: protocol.KindBye}) // the master tells the sessions at once
	n.wg.Wait()
	n.log.Info("node stopped")
}

func (n *Node) newStreamID() uint64 {
	n.idMu.Lock()
	defer n.idMu.Unlock()
	n.nextID++
	return n.nextID
}

// send puts a message on the wire to the master.
func (n *Node) send(m *protocol.Msg) error { return n.conn.Send(m) }

// event sends a notice about a container to its session.
func (n *Node) event(session, op string, body any) {
	ev := &protocol.Msg{Kind: protocol.KindEvent, Op: op, Session: session}
	if ev.SetBody(body) == nil {
		n.send(ev)
	}
}

func (n *Node) dispatch(ctx context.Context, m *protocol.Msg) {
	switch m.Kind {
	case protocol.KindLinkReset:
		// Messages to or from the master may be lost: fail what is open
		// and register again (the master drops this node's containers
		// when it resets the link).
		err := fmt.Errorf("link to the master reset: %w", protocol.ErrUnavailable)
		n.streams.FailAll(err)
		n.calls.FailAll(err)
		go n.hello(ctx, &cpuSampler{})
	case protocol.KindReply:
		n.calls.Resolve(m)
	case protocol.KindPong:
		n.pong(m)
	case protocol.KindData, protocol.KindAck:
		n.streams.Dispatch(m.Session, m)
	case protocol.KindRequest:
		// Streams the client feeds must exist before its first chunk,
		// which may arrive while the request is still being handled.
		inKey, hasIn := n.preRegister(m)
		recv := time.Now() // in wire order: a session's end is later than what came before it
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			var body any
			var after func()
			var err error
			if m.Op == protocol.OpFileFetch {
				var c *ctr
				if c, err = n.lookup(m); err == nil {
					body, after, err = n.fileFetch(ctx, c, m)
				}
			} else {
				body, err = n.request(ctx, m, recv)
			}
			if err != nil {
				n.log.Debug("request failed", "op", m.Op, "container", m.Container, "err", err)
				if hasIn {
					n.streams.Remove(inKey)
				}
			}
			n.send(m.Reply(body, wireErr(err)))
			if after != nil {
				after()
			}
		}()
	}
}

package sdk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tffs/tffs/protocol"
)

// NodeInfo is one node of the resource offer: capacity, live load and rank.
type NodeInfo = protocol.NodeInfo

// masterConn is what a Location needs of its link to the master
// (*protocol.Client; a fake in the unit tests).
type masterConn interface {
	Send(*protocol.Msg) error
	Recv() <-chan *protocol.Msg
	Close()
}

// Location is a session with a tffs location. It is safe for concurrent use.
type Location struct {
	cfg     connectConfig
	log     *slog.Logger
	conn    masterConn
	calls   *protocol.Calls
	streams *protocol.Streams
	session string
	nextID  atomic.Uint64

	mu         sync.Mutex
	offer      protocol.Offer
	containers map[string]*Container
	early      map[string]protocol.ContainerExit // exits that beat their spawn's reply
	closed     bool
	lastPong   time.Time
	master     string // the master's incarnation (see rehello.go)
	rehelloing bool   // a hello after a master restart is under way

	byeAck    chan struct{} // the master's answer to our goodbye
	callbacks *callbackQueue
	cbwg      sync.WaitGroup // the callback goroutine and the output feeders: they run user code
	inCall    atomic.Int32   // user callbacks running now
	done      chan struct{}
	wg        sync.WaitGroup
}

// Connect opens a session with a location: by default the one in
// ~/.tffs/default-location, as this machine's client key.
func Connect(ctx context.Context, opts ...Option) (*Location, error) {
	cfg := connectConfig{dir: protocol.DefaultDir(), heartbeat: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	lc := cfg.loc
	if lc == nil {
		c, err := ReadConfig(cfg.dir, cfg.location)
		if err != nil {
			return nil, err
		}
		lc = &c
	}
	kp := cfg.keys
	if kp == nil {
		k, err := ClientKey(cfg.dir)
		if err != nil {
			return nil, err
		}
		kp = &k
	}
	b := make([]byte, 12)
	rand.Read(b)
	session := "s-" + hex.EncodeToString(b)
	conn, err := protocol.Dial(ctx, protocol.TCPAddr(lc.Master), lc.MasterKey, *kp, session, cfg.log)
	if err != nil {
		return nil, err
	}
	l := newLocation(cfg, session, conn)
	var offer protocol.Offer
	if err := l.call(ctx, protocol.OpHello, protocol.HelloRequest{Client: "tffs-sdk"}, &offer, ""); err != nil {
		l.shutdown()
		return nil, fmt.Errorf("hello: %w", err)
	}
	l.mu.Lock()
	l.offer, l.master = offer, offer.Master
	l.mu.Unlock()
	return l, nil
}

// newLocation starts a session's loops over conn; the hello is the caller's.
func newLocation(cfg connectConfig, session string, conn masterConn) *Location {
	l := &Location{
		cfg: cfg, log: cfg.log, conn: conn, calls: protocol.NewCalls(), streams: protocol.NewStreams(),
		session: session, containers: map[string]*Container{},
		callbacks: newCallbackQueue(), byeAck: make(chan struct{}, 1), done: make(chan struct{}), lastPong: time.Now(),
	}
	l.wg.Add(2)
	l.cbwg.Add(1)
	go l.recvLoop()
	go l.callbackLoop()
	go l.heartbeatLoop()
	return l
}

// SessionID is this session's id at the master.
func (l *Location) SessionID() string { return l.session }

// Close ends the session: the location removes everything it made.
func (l *Location) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	// Wait (briefly) for the master to answer the goodbye: a process that
	// exits right after Close would otherwise drop it with its socket, and
	// the session would live on until its heartbeat timeout.
	if l.conn.Send(&protocol.Msg{Kind: protocol.KindBye}) == nil {
		select {
		case <-l.byeAck:
		case <-time.After(byeWait):
		}
	}
	l.shutdown()
	return nil
}

func (l *Location) shutdown() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	close(l.done)
	l.conn.Close()
	err := fmt.Errorf("session closed: %w", ErrUnavailable)
	l.calls.FailAll(err)
	l.streams.FailAll(err)
	l.wg.Wait()
	// A Close from inside a callback cannot wait for the callback
	// goroutines: one of them is the caller. They end on their own once the
	// running callback returns.
	if l.inCall.Load() == 0 {
		l.cbwg.Wait()
	}
}

// userCallback runs f, user code, and counts it as running.
func (l *Location) userCallback(f func()) {
	l.inCall.Add(1)
	defer l.inCall.Add(-1)
	f()
}

func (l *Location) newID() uint64 { return l.nextID.Add(1) }

// call sends a request (about container cid, or the session when "") and
// decodes the reply into reply.
func (l *Location) call(ctx context.Context, op string, body, reply any, cid string) error {
	return l.calls.Call(ctx, l.conn.Send, op, body, reply, func(m *protocol.Msg) { m.Container = cid })
}

// callLate is call for a request that changes the location: if ctx ends
// before the reply, late gets the reply when it comes (see
// protocol.Calls.CallLate), so a cancelled call can be undone.
func (l *Location) callLate(ctx context.Context, op string, body, reply any, cid string, late func(*protocol.Msg)) error {
	return l.calls.CallLate(ctx, l.conn.Send, op, body, reply, func(m *protocol.Msg) { m.Container = cid }, late)
}

// undoTimeout bounds a call that undoes a cancelled one.
const undoTimeout = 30 * time.Second

// undo sends request op about container cid in the background, bounded by
// undoTimeout, after a cancelled call turned out to have succeeded.
func (l *Location) undo(op string, body any, cid string) {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	if err := l.call(ctx, op, body, nil, cid); err != nil {
		l.log.Debug("undo of a cancelled call failed", "op", op, "container", cid, "err", err)
	}
}

func (l *Location) recvLoop() {
	defer l.wg.Done()
	for {
		select {
		case <-l.done:
			return
		case m := <-l.conn.Recv():
			l.dispatch(m)
		}
	}
}

func (l *Location) dispatch(m *protocol.Msg) {
	switch m.Kind {
	case protocol.KindReply:
		l.calls.Resolve(m)
	case protocol.KindData, protocol.KindAck:
		l.streams.Dispatch("", m)
	case protocol.KindPong:
		l.mu.Lock()
		l.lastPong = time.Now()
		l.mu.Unlock()
		var p protocol.Pong
		if m.DecodeBody(&p) == nil {
			l.sawMaster(p.Master, p.NoSession)
		}
	case protocol.KindEvent:
		l.event(m)
	case protocol.KindBye:
		select {
		case l.byeAck <- struct{}{}:
		default:
		}
	case protocol.KindLinkReset:
		l.linkReset(m.Err)
	}
}

func (l *Location) event(m *protocol.Msg) {
	switch m.Op {
	case protocol.OpOffer:
		var o protocol.Offer
		if m.DecodeBody(&o) == nil {
			l.mu.Lock()
			l.offer = o
			l.mu.Unlock()
			l.sawMaster(o.Master, false)
		}
	case protocol.EvNodeAdded, protocol.EvNodeGone:
		var n NodeInfo
		if m.DecodeBody(&n) != nil {
			return
		}
		f := l.cfg.onAdded
		if m.Op == protocol.EvNodeGone {
			f = l.cfg.onGone
		}
		if f != nil {
			l.callback(func() { f(n) })
		}
	case protocol.EvContainerExit:
		var ev protocol.ContainerExit
		if m.DecodeBody(&ev) == nil {
			l.mu.Lock()
			c := l.containers[ev.Container]
			if c == nil {
				if l.early == nil || len(l.early) > maxEarlyExits {
					l.early = map[string]protocol.ContainerExit{}
				}
				l.early[ev.Container] = ev
			}
			l.mu.Unlock()
			if c != nil {
				c.exitEvent(ev.Boot, ev.Code)
			}
		}
	case protocol.EvContainerGone:
		var ev protocol.ContainerGone
		if m.DecodeBody(&ev) == nil {
			if c := l.container(ev.Container); c != nil {
				c.gone(ev.Reason)
				if f := l.cfg.onGoneCtr; f != nil {
					l.callback(func() { f(c, ev.Reason) })
				}
			}
		}
	case protocol.EvVolumeCreated, protocol.EvVolumeDestroyed:
		l.volumeEvent(m)
	case protocol.EvProcExit:
		var ev protocol.ProcExit
		if m.DecodeBody(&ev) == nil {
			if c := l.container(ev.Container); c != nil {
				c.procExited(ev.Proc, ev.Code)
			}
		}
	}
}

// callback queues f for the callback goroutine; it never blocks.
func (l *Location) callback(f func()) { l.callbacks.push(f) }

func (l *Location) callbackLoop() {
	defer l.cbwg.Done()
	l.callbacks.run(l.done, l.userCallback)
}

func (l *Location) heartbeatLoop() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
			l.conn.Send(&protocol.Msg{Kind: protocol.KindPing})
		}
	}
}

// Connected reports whether the master answered a heartbeat recently.
func (l *Location) Connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.closed && time.Since(l.lastPong) < 3*l.cfg.heartbeat
}

// Offer is the live resource offer (nodes, best first).
func (l *Location) Offer() protocol.Offer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.offer
}

// Nodes lists the nodes of the offer, best-ranked first.
func (l *Location) Nodes() []*Node {
	var out []*Node
	for _, n := range l.Offer().Nodes {
		out = append(out, &Node{loc: l, Info: n})
	}
	return out
}

// Node is the best-ranked node, or nil when the location has none.
func (l *Location) Node() *Node {
	ns := l.Nodes()
	if len(ns) == 0 {
		return &Node{loc: l} // the master will answer ErrUnavailable on use
	}
	return ns[0]
}

// NodeNamed finds a node of the offer by name.
func (l *Location) NodeNamed(name string) (*Node, error) {
	for _, n := range l.Nodes() {
		if n.Info.Name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("node %q: %w", name, ErrNotFound)
}

// RefreshOffer asks the master for the current offer.
func (l *Location) RefreshOffer(ctx context.Context) (protocol.Offer, error) {
	var o protocol.Offer
	if err := l.call(ctx, protocol.OpOffer, protocol.Empty{}, &o, ""); err != nil {
		return o, err
	}
	l.mu.Lock()
	l.offer = o
	l.mu.Unlock()
	return o, nil
}

func (l *Location) container(id string) *Container {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.containers[id]
}

// Containers lists this session's containers.
func (l *Location) Containers() []*Container {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Container, 0, len(l.containers))
	for _, c := range l.containers {
		out = append(out, c)
	}
	return out
}

// ListContainers asks the master for this session's containers.
func (l *Location) ListContainers(ctx context.Context) ([]protocol.ContainerInfo, error) {
	var list protocol.ContainerList
	err := l.call(ctx, protocol.OpList, protocol.Empty{}, &list, "")
	return list.Containers, err
}

// Node is a node of the location, as offered.
type Node struct {
	loc  *Location
	Info NodeInfo
}

// Name is the node's name ("" for "let the location choose").
func (n *Node) Name() string { return n.Info.Name }

// SpawnContainer creates and starts a container from an image the location
// holds (see EnsureImage).
func (n *Node) SpawnContainer(ctx context.Context, image string, opts ...SpawnOption) (*Container, error) {
	return n.loc.spawn(ctx, n.Info.Name, image, opts...)
}

var errClosed = errors.New("session closed")

// byeWait bounds how long Close waits for the master to answer the goodbye.
const byeWait = 2 * time.Second

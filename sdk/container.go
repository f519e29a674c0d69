package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/tffs/tffs/protocol"
)

// Container is a container of this session.
type Container struct {
	loc  *Location
	ID   string // the location's id for it
	Name string // unique within the session
	Node string // the node it runs on
	Tag  string // its tag, "" if none

	onStdout, onStderr func([]byte)
	onExit             func(int)

	mu           sync.Mutex
	boot         *bootState
	bootChanged  chan struct{} // closed when boot is replaced
	procs        map[string]*Process
	heldAcks     [][2]uint64 // output acks waiting for the spawn reply: stream, seq
	pendingExits map[int]int // boot number → code, for exits ahead of their boot's reply
	goneWhy      string
	isGone       chan struct{}
	goneOnce     sync.Once
	ip           string // private address (network.go)
}

// bootState is one boot of the main process: its output and exit.
type bootState struct {
	outputs sync.WaitGroup // output readers still draining
	done    chan struct{}
	once    sync.Once
	code    int
	num     int       // the node's number for this boot; 0 until its reply names it
	streams [2]uint64 // its stdout and stderr stream ids (0: none)
}

// anyBoot marks a boot of a container this session did not start (found by
// id): any exit reported for it counts.
const anyBoot = -1

// maxEarlyExits bounds the exits kept for spawns whose reply is pending.
const maxEarlyExits = 1024

func (l *Location) spawn(ctx context.Context, node, image string, opts ...SpawnOption) (*Container, error) {
	var sc spawnConfig
	for _, o := range opts {
		o(&sc)
	}
	sc.req.Node, sc.req.Image = node, image
	if sc.req.Tag != "" {
		if err := protocol.CheckTag(sc.req.Tag); err != nil {
			return nil, fmt.Errorf("spawn %s: %w", image, err)
		}
	}
	c := &Container{loc: l, Tag: sc.req.Tag, onStdout: sc.onStdout, onStderr: sc.onStderr, onExit: sc.onExit,
		procs: map[string]*Process{}, isGone: make(chan struct{})}
	b := c.newBoot(&sc.req.Stdout, &sc.req.Stderr)
	var rep protocol.SpawnReply
	// A spawn given up on (ctx ended) may still succeed: the container it
	// made is destroyed when the late reply comes, so nothing runs on
	// orphaned and its name is free again.
	late := func(m *protocol.Msg) {
		var lr protocol.SpawnReply
		if m.Err == nil && m.DecodeBody(&lr) == nil && lr.ID != "" {
			l.undo(protocol.OpDestroy, protocol.Empty{}, lr.ID)
		}
	}
	if err := l.callLate(ctx, protocol.OpSpawn, sc.req, &rep, "", late); err != nil {
		c.dropStreams(sc.req.Stdout, sc.req.Stderr, err)
		return nil, fmt.Errorf("spawn %s: %w", image, err)
	}
	c.mu.Lock()
	c.ID, c.Name, c.Node = rep.ID, rep.Name, rep.Node
	c.ip = rep.IP
	held := c.heldAcks
	c.heldAcks = nil
	c.mu.Unlock()
	for _, a := range held {
		c.ackOutput(a[0], a[1])
	}
	l.mu.Lock()
	l.containers[c.ID] = c
	ev, early := l.early[c.ID]
	delete(l.early, c.ID)
	l.mu.Unlock()
	c.named(b, rep.Boot)
	if early {
		c.exitEvent(ev.Boot, ev.Code)
	}
	return c, nil
}

// newBoot registers output streams for a boot and sets their ids.
func (c *Container) newBoot(stdoutID, stderrID *uint64) *bootState {
	b := &bootState{done: make(chan struct{})}
	*stdoutID = c.output(b, c.onStdout)
	*stderrID = c.output(b, c.onStderr)
	b.streams = [2]uint64{*stdoutID, *stderrID}
	c.mu.Lock()
	c.setBoot(b)
	c.mu.Unlock()
	return b
}

// setBoot makes b the current boot and wakes Waits on the old one (whose
// exit the node no longer reports once it is superseded). c.mu is held.
func (c *Container) setBoot(b *bootState) {
	c.boot = b
	if c.bootChanged != nil {
		close(c.bootChanged)
	}
	c.bootChanged = make(chan struct{})
}

// ackOutput acknowledges a chunk of an output stream. The master routes
// acks to the node by container, so until the spawn's reply names the
// container they are held (output can arrive before the reply).
func (c *Container) ackOutput(stream, seq uint64) {
	c.mu.Lock()
	cid := c.ID
	if cid == "" {
		c.heldAcks = append(c.heldAcks, [2]uint64{stream, seq})
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.loc.conn.Send(&protocol.Msg{Kind: protocol.KindAck, Stream: stream, Seq: seq, Container: cid})
}

// output registers a receiver that feeds f on the callback side; 0 when
// nobody listens (the node then discards the stream).
func (c *Container) output(b *bootState, f func([]byte)) uint64 {
	if f == nil {
		return 0
	}
	id := c.loc.newID()
	r := protocol.NewReceiver(func(seq uint64) { c.ackOutput(id, seq) })
	c.loc.streams.AddReceiver(protocol.StreamKey{ID: id}, r)
	b.outputs.Add(1)
	c.loc.cbwg.Add(1)
	go func() {
		defer c.loc.cbwg.Done()
		defer b.outputs.Done()
		defer c.loc.streams.Remove(protocol.StreamKey{ID: id})
		buf := make([]byte, protocol.ChunkSize)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				chunk := append([]byte(nil), buf[:n]...)
				c.loc.userCallback(func() { f(chunk) })
			}
			if err != nil {
				return
			}
		}
	}()
	return id
}

func (c *Container) dropStreams(stdout, stderr uint64, err error) {
	for _, id := range []uint64{stdout, stderr} {
		if id != 0 {
			if r := c.loc.streams.Receiver(protocol.StreamKey{ID: id}); r != nil {
				r.Fail(err)
			}
			c.loc.streams.Remove(protocol.StreamKey{ID: id})
		}
	}
}

// receiver registers the receiving end of a stream from a node (about
// container cid) or from the master (cid "").
func (l *Location) receiver(id uint64, cid string) *protocol.Receiver {
	r := protocol.NewReceiver(func(seq uint64) {
		l.conn.Send(&protocol.Msg{Kind: protocol.KindAck, Stream: id, Seq: seq, Container: cid})
	})
	l.streams.AddReceiver(protocol.StreamKey{ID: id}, r)
	return r
}

// exitEvent handles the location's report that boot num's main process
// exited (num 0: a node that does not number boots, taken as the current
// one). An older boot's exit is stale; one that beat the reply naming the
// current boot waits for it.
func (c *Container) exitEvent(num, code int) {
	c.mu.Lock()
	b := c.boot
	switch {
	case b == nil:
		c.mu.Unlock()
		return
	case num == 0 || b.num == num || b.num == anyBoot:
	case b.num == 0 || num > b.num:
		if c.pendingExits == nil {
			c.pendingExits = map[int]int{}
		}
		c.pendingExits[num] = code
		c.mu.Unlock()
		return
	default:
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.finishBoot(b, code)
}

// named records the node's number for boot b and applies its exit if that
// came first.
func (c *Container) named(b *bootState, num int) {
	c.mu.Lock()
	b.num = num
	code, ok := c.pendingExits[num]
	for k := range c.pendingExits {
		if k <= num {
			delete(c.pendingExits, k)
		}
	}
	current := c.boot == b
	c.mu.Unlock()
	if ok && current && num != 0 {
		c.finishBoot(b, code)
	}
}

// finishBoot records a boot's exit once its output is drained.
func (c *Container) finishBoot(b *bootState, code int) {
	go func() {
		b.outputs.Wait()
		b.once.Do(func() {
			b.code = code
			close(b.done)
			if c.onExit != nil {
				c.loc.callback(func() { c.onExit(code) })
			}
		})
	}()
}

func (c *Container) gone(reason string) {
	c.goneOnce.Do(func() {
		c.mu.Lock()
		c.goneWhy = reason
		procs := c.procs
		b := c.boot
		c.mu.Unlock()
		close(c.isGone)
		if b != nil {
			// The end of its output may never come (the location forgets
			// a destroyed container): end the readers, or they wait forever.
			c.dropStreams(b.streams[0], b.streams[1], fmt.Errorf("container %s: %s: %w", c.Name, reason, ErrNotFound))
		}
		for _, p := range procs {
			p.finish(-1)
		}
		c.loc.mu.Lock()
		delete(c.loc.containers, c.ID)
		c.loc.mu.Unlock()
	})
}

// Gone is closed when the container no longer exists (destroyed, or lost
// with its node).
func (c *Container) Gone() <-chan struct{} { return c.isGone }

// Wait blocks until the main process of the current boot exits and returns
// its exit code.
func (c *Container) Wait(ctx context.Context) (int, error) {
	for {
		c.mu.Lock()
		b := c.boot
		if c.bootChanged == nil {
			c.bootChanged = make(chan struct{})
		}
		changed := c.bootChanged
		c.mu.Unlock()
		select {
		case <-b.done:
			return b.code, nil
		case <-changed: // a reboot replaced the boot: wait for the new one
		case <-c.isGone:
			return -1, fmt.Errorf("container %s: %s: %w", c.Name, c.goneReason(), ErrUnavailable)
		case <-ctx.Done():
			return -1, fmt.Errorf("wait: %v: %w", ctx.Err(), ErrTimeout)
		}
	}
}

func (c *Container) goneReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goneWhy
}

// Exited reports whether the main process has exited, and its code.
func (c *Container) Exited() (bool, int) {
	c.mu.Lock()
	b := c.boot
	c.mu.Unlock()
	select {
	case <-b.done:
		return true, b.code
	default:
		return false, 0
	}
}

// Signal sends a signal to the main process.
func (c *Container) Signal(ctx context.Context, sig syscall.Signal) error {
	return c.loc.call(ctx, protocol.OpSignal, protocol.SignalRequest{Signal: int(sig)}, nil, c.ID)
}

// Reboot restarts the container keeping its filesystem.
func (c *Container) Reboot(ctx context.Context) error { return c.reboot(ctx, protocol.OpReboot) }

// Reset restarts the container on a fresh filesystem from its image (the
// pre-boot files are written again).
func (c *Container) Reset(ctx context.Context) error { return c.reboot(ctx, protocol.OpReset) }

func (c *Container) reboot(ctx context.Context, op string) error {
	var req protocol.RebootRequest
	c.mu.Lock()
	prev := c.boot
	c.mu.Unlock()
	b := c.newBoot(&req.Stdout, &req.Stderr)
	superseded := func() {
		c.dropStreams(req.Stdout, req.Stderr, fmt.Errorf("%s %s: superseded: %w", op, c.Name, ErrBusy))
	}
	// Given up on (ctx ended), the reboot may still happen: its late reply
	// makes the new boot current then, if no newer one is.
	late := func(m *protocol.Msg) {
		var lr protocol.BootReply
		if m.Err != nil || m.DecodeBody(&lr) != nil || !c.adopt(b, lr.Boot) {
			superseded()
		}
	}
	var rep protocol.BootReply
	if err := c.loc.callLate(ctx, op, req, &rep, c.ID, late); err != nil {
		// Nothing was done (or not yet): the old boot is current again, so
		// Wait and Exited answer for it instead of blocking forever.
		c.mu.Lock()
		restored := c.boot == b
		if restored {
			c.setBoot(prev)
		}
		code, exited := c.pendingExits[prev.num]
		c.mu.Unlock()
		if restored && exited && prev.num > 0 {
			c.finishBoot(prev, code) // its exit came while the new boot was current
		}
		if !errors.Is(err, ErrTimeout) {
			c.dropStreams(req.Stdout, req.Stderr, err)
		}
		return fmt.Errorf("%s %s: %w", op, c.Name, err)
	}
	if !c.adopt(b, rep.Boot) {
		superseded() // a concurrent reboot got a newer boot on the node
	}
	return nil
}

// adopt makes boot b, numbered num by the node, the current one unless the
// current boot is newer on the node (requests may be carried out in another
// order than they were made). False when b is stale.
func (c *Container) adopt(b *bootState, num int) bool {
	c.mu.Lock()
	cur := c.boot
	stale := cur != b && cur.num > 0 && num > 0 && num < cur.num
	if !stale && cur != b {
		c.setBoot(b)
	}
	c.mu.Unlock()
	if stale {
		return false
	}
	c.named(b, num)
	return true
}

// Destroy removes the container and everything of it.
func (c *Container) Destroy(ctx context.Context) error {
	if err := c.loc.call(ctx, protocol.OpDestroy, protocol.Empty{}, nil, c.ID); err != nil {
		return fmt.Errorf("destroy %s: %w", c.Name, err)
	}
	c.gone("destroyed")
	return nil
}

// Run runs a command in the container to completion and returns its
// standard output and exit code (standard error is discarded; use RunFull
// to get it).
func (c *Container) Run(ctx context.Context, args ...string) ([]byte, int, error) {
	r, err := c.RunFull(ctx, args)
	return r.Stdout, r.Code, err
}

// Result is what a finished process produced.
type Result struct {
	Stdout, Stderr []byte
	Code           int
}

// RunFull runs a command to completion, returning both output streams.
func (c *Container) RunFull(ctx context.Context, args []string, opts ...ProcOption) (Result, error) {
	p, err := c.spawn(ctx, args, false, opts...)
	if err != nil {
		return Result{Code: -1}, err
	}
	var res Result
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); res.Stdout, _ = io.ReadAll(p.Stdout) }()
	go func() { defer wg.Done(); res.Stderr, _ = io.ReadAll(p.Stderr) }()
	res.Code, err = p.Wait(ctx)
	if err != nil {
		// Past the deadline: kill the process (bounded) and stop reading
		// its output, so Run returns now and not when the output ends.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
		p.Kill(kctx)
		cancel()
		c.dropStreams(p.streams[1], p.streams[2], err)
	}
	wg.Wait()
	return res, err
}

// ContainerByID returns a handle to a container by its id. Every operation
// on it fails with ErrNotFound unless this session owns the container.
func (l *Location) ContainerByID(id string) *Container {
	if c := l.container(id); c != nil {
		return c
	}
	c := &Container{loc: l, ID: id, Name: id, procs: map[string]*Process{}, isGone: make(chan struct{})}
	c.boot = &bootState{done: make(chan struct{}), num: anyBoot}
	return c
}

package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

// ctr is a container this node runs for a session.
type ctr struct {
	id      string
	session string
	rc      *runtime.Container

	mu   sync.Mutex
	boot int // incremented on every reboot/reset, so a stale exit is not reported
	// exited and code: the current boot's main process has exited, with code.
	exited bool
	code   int
	procs  map[string]*runtime.Process
	gone   bool
	outs   []*protocol.Sender // the current boot's stdout and stderr streams
	ip     string             // its address, "" for none (net.go)
	conns  map[net.Conn]bool  // its open tunnel connections (net.go)
}

// outputs makes the stream writers for a boot's stdout and stderr (nil
// for stream id 0, which discards).
func (n *Node) output(session string, id uint64) *protocol.Sender {
	if id == 0 {
		return nil
	}
	snd := protocol.NewSender(id, protocol.Msg{Session: session}, n.send)
	n.streams.AddSender(protocol.StreamKey{Scope: session, ID: id}, snd)
	return snd
}

func writerOrDiscard(s *protocol.Sender) io.Writer {
	if s == nil {
		return io.Discard
	}
	return s
}

func (n *Node) closeOutput(session string, s *protocol.Sender, err error) {
	if s == nil {
		return
	}
	s.Close(err)
}

func (n *Node) lookup(m *protocol.Msg) (*ctr, error) {
	if protocol.IsVolumeTarget(m.Container) {
		return n.volumeFiles(m)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.containers[m.Container]
	if !ok || c.session != m.Session {
		return nil, fmt.Errorf("container %q: %w", m.Container, protocol.ErrNotFound)
	}
	return c, nil
}

// MaxContainers is how many containers one node runs at most, so its
// hello (which lists them, with their running processes) stays well within
// a message's limits (protocol.MaxMessageSize and its item count).
const MaxContainers = 1024

// maxReportedProcs bounds the processes a hello lists in all; past it a
// restarted master counts fewer processes than run (logged).
const maxReportedProcs = 2048

// spawn makes and starts a container. recv is when the request arrived: a
// session ended after it (while the container was being made) undoes it,
// while a session of the same name taken up again later (a client that
// said hello again after its session was collected) may spawn.
func (n *Node) spawn(ctx context.Context, m *protocol.Msg, recv time.Time) (any, error) {
	var req protocol.NodeSpawn
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	if req.ID == "" || m.Session == "" {
		return nil, fmt.Errorf("spawn without id or session: %w", protocol.ErrInvalid)
	}
	n.mu.Lock()
	full := len(n.containers) >= MaxContainers
	n.mu.Unlock()
	if full {
		return nil, fmt.Errorf("node %s runs %d containers: %w", n.cfg.Name, MaxContainers, protocol.ErrLimit)
	}
	relax, err := n.relaxation(req)
	if err != nil {
		return nil, err
	}
	ref, err := n.ensureImage(ctx, req.Account, req.Image)
	if err != nil {
		return nil, err
	}
	r := req.Request
	spec := runtime.Spec{
		ID: req.ID, Image: ref, Args: r.Args, Env: r.Env, Cwd: r.Cwd, User: r.User,
		Hostname: r.Hostname, CPUs: r.CPUs, Memory: r.Memory, Asleep: r.Asleep, Relax: relax,
	}
	if spec.Hostname == "" {
		spec.Hostname = req.ID
	}
	if err := n.prepareNet(req.Net); err != nil {
		return nil, err
	}
	if req.Net != nil {
		spec.Files = append(spec.Files, netFiles(req.Net, r.Name, spec.Hostname)...)
	}
	for _, f := range r.Files {
		if err := checkPath(f.Path); err != nil {
			return nil, fmt.Errorf("pre-boot file: %w", err)
		}
		spec.Files = append(spec.Files, runtime.File{Path: f.Path, Mode: os.FileMode(f.Mode), Data: f.Data})
	}
	if spec.Mounts, err = n.volumeMounts(req.Mounts); err != nil {
		return nil, err
	}
	rc, err := n.rt.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	c := &ctr{id: req.ID, session: m.Session, rc: rc, procs: map[string]*runtime.Process{}}
	if err := n.attachNet(c, req.Net); err != nil {
		rc.Destroy(context.WithoutCancel(ctx))
		n.net.Detach(c.id)
		return nil, err
	}
	n.mu.Lock()
	at, ended := n.ended[m.Session]
	ended = ended && at.After(recv)
	if !ended {
		n.containers[c.id] = c
	}
	n.mu.Unlock()
	if ended {
		rc.Destroy(context.WithoutCancel(ctx))
		n.detachNet(c)
		return nil, fmt.Errorf("session ended during spawn: %w", protocol.ErrUnavailable)
	}
	if r.Hold {
		n.log.Info("container made, held until started", "container", c.id, "image", req.Image.Name)
		return protocol.SpawnReply{ID: c.id}, nil
	}
	boot, err := n.startBoot(ctx, c, r.Stdout, r.Stderr, rc.Start)
	if err != nil {
		n.destroy(context.WithoutCancel(ctx), c, "start failed")
		return nil, err
	}
	n.log.Info("container started", "container", c.id, "image", req.Image.Name, "record", spec.Image)
	return protocol.SpawnReply{ID: c.id, Boot: boot, IP: c.ip}, nil
}

// boot starts (or restarts) the main task with fresh output streams and
// watches for its exit. It returns the boot's number, which its exit event
// carries.
func (n *Node) startBoot(ctx context.Context, c *ctr, stdoutID, stderrID uint64, start func(context.Context, io.Writer, io.Writer) error) (int, error) {
	stdout, stderr := n.output(c.session, stdoutID), n.output(c.session, stderrID)
	release := func(err error) {
		n.closeOutput(c.session, stdout, err)
		n.closeOutput(c.session, stderr, err)
		n.streams.Remove(protocol.StreamKey{Scope: c.session, ID: stdoutID})
		n.streams.Remove(protocol.StreamKey{Scope: c.session, ID: stderrID})
	}
	c.mu.Lock()
	c.boot++
	boot := c.boot
	c.exited = false
	c.outs = nil
	for _, s := range []*protocol.Sender{stdout, stderr} {
		if s != nil {
			c.outs = append(c.outs, s)
		}
	}
	c.mu.Unlock()
	if err := start(ctx, writerOrDiscard(stdout), writerOrDiscard(stderr)); err != nil {
		release(err)
		return 0, err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		code, err := c.rc.Wait(context.Background())
		release(nil)
		c.mu.Lock()
		current := c.boot == boot && !c.gone
		if current && err == nil {
			c.exited, c.code = true, code
		}
		c.mu.Unlock()
		if err != nil || !current {
			return
		}
		n.log.Info("container exited", "container", c.id, "code", code)
		n.event(c.session, protocol.EvContainerExit, protocol.ContainerExit{Container: c.id, Code: code, Boot: boot})
	}()
	return boot, nil
}

func (n *Node) reboot(ctx context.Context, c *ctr, m *protocol.Msg, reset bool) (any, error) {
	var req protocol.RebootRequest
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	start := c.rc.Reboot
	if reset {
		start = c.rc.Reset
	}
	boot, err := n.startBoot(ctx, c, req.Stdout, req.Stderr, start)
	if err != nil {
		return nil, err
	}
	return protocol.BootReply{Boot: boot}, nil
}

// destroy removes a container and everything of it.
func (n *Node) destroy(ctx context.Context, c *ctr, reason string) error {
	c.mu.Lock()
	c.gone = true
	outs := c.outs
	c.mu.Unlock()
	// Output nobody reads any more must not hold the task's I/O open.
	for _, o := range outs {
		o.Abort(fmt.Errorf("container destroyed: %w", protocol.ErrUnavailable))
	}
	err := c.rc.Destroy(ctx)
	if nerr := n.detachNet(c); nerr != nil {
		err = errors.Join(err, nerr)
	}
	n.mu.Lock()
	delete(n.containers, c.id)
	n.mu.Unlock()
	n.log.Info("container destroyed", "container", c.id, "reason", reason, "err", err)
	return err
}

// sessionEnd destroys every container of a session.
func (n *Node) sessionEnd(ctx context.Context, m *protocol.Msg) (any, error) {
	var req protocol.SessionEnd
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	n.mu.Lock()
	now := time.Now()
	n.ended[req.Session] = now
	for s, at := range n.ended {
		if now.Sub(at) > 10*time.Minute {
			delete(n.ended, s)
		}
	}
	var mine []*ctr
	for _, c := range n.containers {
		if c.session == req.Session {
			mine = append(mine, c)
		}
	}
	n.mu.Unlock()
	for _, c := range mine {
		n.destroy(ctx, c, "session ended")
	}
	n.streams.FailScope(req.Session, fmt.Errorf("session ended: %w", protocol.ErrUnavailable))
	return protocol.Empty{}, nil
}

func (n *Node) signal(ctx context.Context, c *ctr, m *protocol.Msg) (any, error) {
	var req protocol.SignalRequest
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	if req.Signal <= 0 || req.Signal > 64 {
		return nil, fmt.Errorf("signal %d: %w", req.Signal, protocol.ErrInvalid)
	}
	if req.Proc == "" {
		return protocol.Empty{}, c.rc.Kill(ctx, syscall.Signal(req.Signal))
	}
	p, err := c.proc(req.Proc)
	if err != nil {
		return nil, err
	}
	return protocol.Empty{}, p.Kill(ctx, syscall.Signal(req.Signal))
}

func (c *ctr) isGone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

func (c *ctr) proc(id string) (*runtime.Process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.procs[id]
	if !ok {
		return nil, fmt.Errorf("process %q: %w", id, protocol.ErrNotFound)
	}
	return p, nil
}

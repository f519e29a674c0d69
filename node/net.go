package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tffs/tffs/node/network"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

// netFiles are the pre-boot files of a container with an address: its
// /etc/hosts (with its own name) and the node's /etc/resolv.conf.
func netFiles(nc *protocol.NetConfig, names ...string) []runtime.File {
	var uniq []string
	for _, n := range names {
		if n != "" && !slices.Contains(uniq, n) {
			uniq = append(uniq, n)
		}
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", nc.IP, strings.Join(uniq, " "))
	files := []runtime.File{{Path: "/etc/hosts", Mode: 0o644, Data: []byte(hosts)}}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err == nil && strings.Contains(string(resolv), "nameserver 127.") {
		// A local stub resolver is not reachable from the container.
		if r, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			resolv = r
		}
	}
	if err == nil {
		files = append(files, runtime.File{Path: "/etc/resolv.conf", Mode: 0o644, Data: resolv})
	}
	return files
}

// prepareNet makes the node's network ready for a spawn's address.
func (n *Node) prepareNet(nc *protocol.NetConfig) error {
	if nc == nil {
		return nil
	}
	if net.ParseIP(nc.IP).To4() == nil {
		return fmt.Errorf("container address %q: %w", nc.IP, protocol.ErrInvalid)
	}
	if err := n.net.Ensure(nc.Subnet, nc.LAN); err != nil {
		return fmt.Errorf("%w: %w", err, protocol.ErrUnavailable)
	}
	return nil
}

// attachNet connects a created container to the node's network.
func (n *Node) attachNet(c *ctr, nc *protocol.NetConfig) error {
	if nc == nil {
		return nil
	}
	if err := n.net.Attach(c.id, c.rc.NetNSPath(), net.ParseIP(nc.IP)); err != nil {
		return fmt.Errorf("%w: %w", err, protocol.ErrUnavailable)
	}
	c.ip = nc.IP
	return nil
}

// detachNet ends a container's tunnels and removes its network.
func (n *Node) detachNet(c *ctr) error {
	c.mu.Lock()
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	for conn := range conns {
		conn.Close()
	}
	if c.ip == "" {
		return nil
	}
	return n.net.Detach(c.id)
}

// setPeers routes the other nodes' container subnets to them.
func (n *Node) setPeers(peers []protocol.NodePeer) {
	if n.cfg.Addr == "" {
		return
	}
	ps := make([]network.Peer, 0, len(peers))
	for _, p := range peers {
		ps = append(ps, network.Peer{Addr: p.Addr, Subnet: p.Subnet})
	}
	if err := n.net.SetPeers(ps); err != nil {
		n.log.Warn("routes to other nodes", "err", err)
	}
}

// allowNet adds or removes a source of a container's firewall.
func (n *Node) allowNet(c *ctr, m *protocol.Msg) (any, error) {
	var req protocol.NodeAllow
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	ip := net.ParseIP(req.IP)
	if ip.To4() == nil {
		return nil, fmt.Errorf("address %q: %w", req.IP, protocol.ErrInvalid)
	}
	if c.ip == "" {
		return nil, fmt.Errorf("container %s has no network: %w", c.id, protocol.ErrUnavailable)
	}
	if err := n.net.Allow(c.id, ip, m.Op == protocol.OpAllow); err != nil {
		return nil, fmt.Errorf("%w: %w", err, protocol.ErrUnavailable)
	}
	return protocol.Empty{}, nil
}

// tunnelDial connects to a port inside the container's network namespace
// and carries the connection on the request's two streams.
func (n *Node) tunnelDial(ctx context.Context, c *ctr, m *protocol.Msg) (any, error) {
	var req protocol.TunnelDial
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	return n.tunnelConnect(ctx, c, req, m.Session)
}

// gatewayDial is a tunnel dial of the master's web gateway: its streams
// are the master's (scope "").
func (n *Node) gatewayDial(ctx context.Context, m *protocol.Msg) (any, error) {
	var req protocol.GatewayDial
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	c, err := n.lookup(&protocol.Msg{Container: m.Container, Session: req.Session})
	if err != nil {
		n.streams.Remove(protocol.StreamKey{ID: req.Dial.Up})
		return nil, err
	}
	return n.tunnelConnect(ctx, c, req.Dial, "")
}

// preRegisterGateway registers the up stream of a gateway dial.
func (n *Node) preRegisterGateway(m *protocol.Msg) (protocol.StreamKey, bool) {
	var req protocol.GatewayDial
	if m.DecodeBody(&req) != nil || req.Dial.Up == 0 {
		return protocol.StreamKey{}, false
	}
	id := req.Dial.Up
	recv := protocol.NewReceiver(func(seq uint64) {
		n.send(&protocol.Msg{Kind: protocol.KindAck, Stream: id, Seq: seq})
	})
	key := protocol.StreamKey{ID: id}
	n.streams.AddReceiver(key, recv)
	return key, true
}

// tunnelConnect connects to req.Port in c and carries the connection on
// req's streams, of scope (a session, or "" for the master's).
func (n *Node) tunnelConnect(ctx context.Context, c *ctr, req protocol.TunnelDial, scope string) (any, error) {
	if req.Port <= 0 || req.Port > 65535 || req.Up == 0 || req.Down == 0 {
		return nil, fmt.Errorf("tunnel to port %d: %w", req.Port, protocol.ErrInvalid)
	}
	up := n.inbound(scope, req.Up)
	if up == nil {
		return nil, fmt.Errorf("tunnel stream: %w", protocol.ErrInvalid)
	}
	upKey := protocol.StreamKey{Scope: scope, ID: req.Up}
	wait := time.Duration(min(max(req.WaitMillis, 0), 10*60*1000)) * time.Millisecond
	deadline := time.Now().Add(wait)
	var conn net.Conn
	for {
		var err error
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err = network.DialTCP(dctx, c.rc.NetNSPath(), req.Port)
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) || c.isGone() {
			n.streams.Remove(upKey)
			return nil, fmt.Errorf("tunnel to port %d: %v: %w", req.Port, err, protocol.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			n.streams.Remove(upKey)
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		conn.Close()
		n.streams.Remove(upKey)
		return nil, fmt.Errorf("container gone: %w", protocol.ErrNotFound)
	}
	if c.conns == nil {
		c.conns = map[net.Conn]bool{}
	}
	c.conns[conn] = true
	c.mu.Unlock()
	down := n.output(scope, req.Down)
	downKey := protocol.StreamKey{Scope: scope, ID: req.Down}
	var wg sync.WaitGroup
	wg.Add(2)
	n.wg.Add(1)
	go func() { // client → container
		defer wg.Done()
		_, err := io.Copy(conn, up)
		if err != nil {
			conn.Close()
			down.Abort(err)
			return
		}
		conn.(*net.TCPConn).CloseWrite()
	}()
	go func() { // container → client
		defer wg.Done()
		_, err := io.Copy(down, conn)
		down.Close(err)
	}()
	go func() {
		defer n.wg.Done()
		wg.Wait()
		conn.Close()
		c.mu.Lock()
		delete(c.conns, conn)
		c.mu.Unlock()
		n.streams.Remove(upKey)
		n.streams.Remove(downKey)
	}()
	return protocol.Empty{}, nil
}

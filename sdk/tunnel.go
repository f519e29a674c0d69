package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/tffs/tffs/protocol"
)

// Tunnel forwards connections made to a local listener to a port inside a
// container, through the encrypted session: client → master → node, where
// the node connects inside the container's network namespace. Each
// connection is flow-controlled on its own; a half-close and a close pass
// through. Make one with Container.AttachTunnel.
type Tunnel struct {
	c    *Container
	port int
	wait time.Duration
	ln   net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
	done   chan struct{}
}

// TunnelOption configures AttachTunnel.
type TunnelOption func(*Tunnel, *string)

// TunnelHost sets the local address the tunnel listens on (default
// 127.0.0.1).
func TunnelHost(host string) TunnelOption { return func(_ *Tunnel, h *string) { *h = host } }

// TunnelDialWait sets how long a connection waits for the container's
// server to listen (default 30s).
func TunnelDialWait(d time.Duration) TunnelOption { return func(t *Tunnel, _ *string) { t.wait = d } }

// AttachTunnel listens on localport (0 picks a free one) and carries every
// connection to port inside the container. It ends with Close, with the
// container and with the session.
func (c *Container) AttachTunnel(ctx context.Context, port, localport int, opts ...TunnelOption) (*Tunnel, error) {
	if port <= 0 || port > 65535 || localport < 0 || localport > 65535 {
		return nil, fmt.Errorf("tunnel %d → %d: bad port: %w", localport, port, ErrInvalid)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	t := &Tunnel{c: c, port: port, wait: 30 * time.Second, conns: map[net.Conn]bool{}, done: make(chan struct{})}
	host := "127.0.0.1"
	for _, o := range opts {
		o(t, &host)
	}
	select {
	case <-c.Gone():
		return nil, fmt.Errorf("tunnel to %s: container gone: %w", c.Name, ErrNotFound)
	default:
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(localport)))
	if err != nil {
		return nil, fmt.Errorf("tunnel to %s port %d: %w", c.Name, port, err)
	}
	t.ln = ln
	t.wg.Add(2)
	go t.acceptLoop()
	go func() {
		defer t.wg.Done()
		select {
		case <-c.Gone():
			t.Close()
		case <-c.loc.done:
			t.Close()
		case <-t.done:
		}
	}()
	return t, nil
}

// Addr is the local address the tunnel listens on (host:port).
func (t *Tunnel) Addr() string { return t.ln.Addr().String() }

// Port is the container port the tunnel reaches.
func (t *Tunnel) Port() int { return t.port }

// LocalPort is the local port the tunnel listens on.
func (t *Tunnel) LocalPort() int { return t.ln.Addr().(*net.TCPAddr).Port }

// Container is the container the tunnel reaches.
func (t *Tunnel) Container() *Container { return t.c }

// Close stops accepting connections and ends the open ones.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	t.ln.Close()
	for c := range conns {
		c.Close()
	}
	return nil
}

func (t *Tunnel) acceptLoop() {
	defer t.wg.Done()
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			conn.Close()
			return
		}
		t.conns[conn] = true
		t.mu.Unlock()
		go func() {
			t.serve(conn)
			t.mu.Lock()
			delete(t.conns, conn)
			t.mu.Unlock()
		}()
	}
}

// serve carries one local connection.
func (t *Tunnel) serve(local net.Conn) {
	defer local.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-t.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer cancel()
	remote, err := t.c.dialTunnel(ctx, t.port, t.wait)
	if err != nil {
		return
	}
	defer remote.Close()
	pipe(local.(*net.TCPConn), remote)
}

// pipe copies both ways, passing half-closes, until both directions end.
func pipe(local *net.TCPConn, remote *tunnelConn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // container → local
		defer wg.Done()
		if _, err := io.Copy(local, remote.down); err != nil {
			remote.down.Abort()
			local.Close()
			return
		}
		local.CloseWrite()
	}()
	_, err := io.Copy(remote.up, local)
	remote.up.Close(err)
	if err != nil {
		remote.down.Abort()
	}
	wg.Wait()
}

// tunnelConn is one connection carried through the session.
type tunnelConn struct {
	l        *Location
	up       *protocol.Sender
	down     *protocol.Receiver
	upID     uint64
	downID   uint64
	closeOne sync.Once
}

func (tc *tunnelConn) Close() {
	tc.closeOne.Do(func() {
		tc.up.Close(errors.New("tunnel closed"))
		tc.down.Abort()
		tc.l.streams.Remove(protocol.StreamKey{ID: tc.upID})
		tc.l.streams.Remove(protocol.StreamKey{ID: tc.downID})
	})
}

// dialTunnel asks the container's node to connect to port, retrying a
// refused connection for up to wait.
func (c *Container) dialTunnel(ctx context.Context, port int, wait time.Duration) (*tunnelConn, error) {
	l := c.loc
	tc := &tunnelConn{l: l, upID: l.newID(), downID: l.newID()}
	tc.down = l.receiver(tc.downID, c.ID)
	tc.up = protocol.NewSender(tc.upID, protocol.Msg{Container: c.ID}, l.conn.Send)
	l.streams.AddSender(protocol.StreamKey{ID: tc.upID}, tc.up)
	req := protocol.TunnelDial{Port: port, Up: tc.upID, Down: tc.downID, WaitMillis: wait.Milliseconds()}
	cctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer cancel()
	if err := l.call(cctx, protocol.OpTunnelDial, req, nil, c.ID); err != nil {
		tc.Close()
		return nil, fmt.Errorf("tunnel to %s port %d: %w", c.Name, port, err)
	}
	return tc, nil
}

// isUnavailable reports whether err is ErrUnavailable (nothing listens).
func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// Done is closed when the tunnel is closed (by Close, or with its
// container or session).
func (t *Tunnel) Done() <-chan struct{} { return t.done }

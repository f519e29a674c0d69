package sdk

import (
	"context"
	"fmt"
)

// TunnelConn is one connection into a container's port, carried through
// the encrypted session as a tunnel's connections are (see DialPort). It
// is flow-controlled both ways; CloseWrite half-closes it.
type TunnelConn struct{ tc *tunnelConn }

// DialPort connects to port inside c's network namespace (its loopback),
// from the node, without a local listener: for a program that carries
// connections itself (an ssh server's port forwarding, a proxy). It fails
// with ErrUnavailable when nothing listens there.
func (c *Container) DialPort(ctx context.Context, port int) (*TunnelConn, error) {
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("dial port %d: %w", port, ErrInvalid)
	}
	tc, err := c.dialTunnel(ctx, port, 0)
	if err != nil {
		return nil, err
	}
	return &TunnelConn{tc: tc}, nil
}

// Read reads what the container's side sent (io.EOF after its half-close).
func (t *TunnelConn) Read(p []byte) (int, error) { return t.tc.down.Read(p) }

// Write sends p to the container's side.
func (t *TunnelConn) Write(p []byte) (int, error) { return t.tc.up.Write(p) }

// CloseWrite ends what this side sends; reading goes on.
func (t *TunnelConn) CloseWrite() error {
	t.tc.up.Close(nil)
	return nil
}

// Close ends the connection both ways.
func (t *TunnelConn) Close() error {
	t.tc.Close()
	return nil
}

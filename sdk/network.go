package sdk

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/tffs/tffs/protocol"
)

// IP returns the container's private address on the location's network
// ("" if it has none, or for a handle made with ContainerByID before
// ListContainers).
func (c *Container) IP() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ip
}

// AllowConnectionFrom lets other (a container of this session, or an
// external) open connections to c. A container accepts none until its
// owner allows them.
func (c *Container) AllowConnectionFrom(ctx context.Context, other Peer) error {
	return c.allow(ctx, protocol.OpAllow, other)
}

// DisallowConnectionFrom refuses new connections from other again
// (connections already open are not cut).
func (c *Container) DisallowConnectionFrom(ctx context.Context, other Peer) error {
	return c.allow(ctx, protocol.OpDisallow, other)
}

func (c *Container) allow(ctx context.Context, op string, other Peer) error {
	if other == nil || reflect.ValueOf(other).IsNil() {
		return fmt.Errorf("%s: no container: %w", op, ErrInvalid)
	}
	if err := c.loc.call(ctx, op, other.allowRequest(), nil, c.ID); err != nil {
		return fmt.Errorf("%s %s from %s: %w", op, c.Name, other.peerName(), err)
	}
	return nil
}

// WaitTCP waits until something listens on port inside the container (a
// connection to it succeeds) or ctx ends.
func (c *Container) WaitTCP(ctx context.Context, port int) error {
	for {
		wait := 30 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = time.Until(dl)
		}
		conn, err := c.dialTunnel(ctx, port, wait)
		if err == nil {
			conn.Close()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for port %d of %s: %w", port, c.Name, ctx.Err())
		}
		if !isUnavailable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for port %d of %s: %w", port, c.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitHTTP waits until an HTTP GET of path on port inside the container
// answers with status, or ctx ends.
func (c *Container) WaitHTTP(ctx context.Context, port int, path string, status int) error {
	t, err := c.AttachTunnel(ctx, port, 0)
	if err != nil {
		return err
	}
	defer t.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.Addr()+path, nil)
		if err != nil {
			return fmt.Errorf("wait for http %s: %w", path, ErrInvalid)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for http %d on port %d of %s (last: %s): %w", status, port, c.Name, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Peer is what a container's firewall may let in: a *Container of this
// session or an *External.
type Peer interface {
	allowRequest() protocol.AllowRequest
	peerName() string
}

func (c *Container) allowRequest() protocol.AllowRequest { return protocol.AllowRequest{Other: c.ID} }
func (c *Container) peerName() string                    { return c.Name }

// External is a tagged container of another session of this account. Its
// owner decides with AllowConnectionFrom who may connect to it.
type External struct {
	Tag  string
	Name string // its name in its own session
	Node string
	IP   string // its private address
}

func (e *External) allowRequest() protocol.AllowRequest { return protocol.AllowRequest{Tag: e.Tag} }
func (e *External) peerName() string                    { return "external " + e.Tag }

// External finds the container of this account tagged tag (ErrNotFound if
// there is none).
func (l *Location) External(ctx context.Context, tag string) (*External, error) {
	if err := protocol.CheckTag(tag); err != nil {
		return nil, fmt.Errorf("external: %w", err)
	}
	var rep protocol.External
	if err := l.call(ctx, protocol.OpExternal, protocol.ExternalRequest{Tag: tag}, &rep, ""); err != nil {
		return nil, fmt.Errorf("external %s: %w", tag, err)
	}
	return &External{Tag: rep.Tag, Name: rep.Name, Node: rep.Node, IP: rep.IP}, nil
}

package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backendHost is the pseudo host under which the gateway's HTTP transport
// pools keep-alive connections to one backend: a request is sent to the
// backend the round robin chose, over an idle connection to it when there
// is one (a connection into a container costs a round trip to its node).
const backendHost = ".backend.tffs"

// gatewayTransport picks a domain's backend per request (round robin,
// backends that refused or did not answer lately last) and sends the
// request to it; a backend whose connection cannot be made is skipped for
// the next (the request was not sent, so it is safe to try it again).
type gatewayTransport struct {
	m  *Master
	tr *http.Transport
}

// dialError marks a failure to connect to a backend.
type dialError struct{ err error }

func (e dialError) Error() string { return e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

func (m *Master) newGatewayTransport(timeout time.Duration) *gatewayTransport {
	g := &gatewayTransport{m: m}
	g.tr = &http.Transport{DialContext: g.dial, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second,
		ResponseHeaderTimeout: timeout}
	return g
}

// RoundTrip sends req (its URL host is the domain) to one of the domain's
// backends.
func (g *gatewayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	domain := req.URL.Hostname()
	targets := g.m.endpointTargets(domain)
	if len(targets) == 0 {
		return nil, fmt.Errorf("no container serves %s", domain)
	}
	var errs []error
	for _, t := range targets {
		out := req.Clone(req.Context())
		out.Host = req.Host
		if out.Host == "" {
			out.Host = req.URL.Host
		}
		out.URL.Host = t.b.container + "." + strconv.Itoa(t.b.port) + backendHost
		if req.Body != nil && req.Body != http.NoBody {
			// The transport closes the body it is given even when the
			// connection fails (and then has read none of it): the next
			// backend gets it whole.
			out.Body = io.NopCloser(req.Body)
		}
		if ch, ok := req.Context().Value(chosenKey{}).(*chosenBackend); ok {
			ch.b, ch.set = t.b, true
		}
		resp, err := g.tr.RoundTrip(out)
		var de dialError
		if err == nil || !errors.As(err, &de) {
			return resp, err
		}
		errs = append(errs, err)
		g.m.markDown(t.b)
	}
	if ch, ok := req.Context().Value(chosenKey{}).(*chosenBackend); ok {
		ch.set = false // none was reached: nothing to mark
	}
	return nil, errors.Join(errs...)
}

// dial connects to the backend a pseudo host names.
func (g *gatewayTransport) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	name, ok := strings.CutSuffix(host, backendHost)
	id, portStr, ok2 := strings.Cut(name, ".")
	port, err := strconv.Atoi(portStr)
	if !ok || !ok2 || err != nil {
		return nil, dialError{fmt.Errorf("gateway: bad backend %q", addr)}
	}
	t, found := g.m.backendTarget(backend{container: id, port: port})
	if !found {
		return nil, dialError{fmt.Errorf("container %s is gone", id)}
	}
	conn, err := g.m.dialBackend(ctx, t)
	if err != nil {
		return nil, dialError{err}
	}
	return conn, nil
}

// endpointTargets lists the backends of the domain in the order to try
// them: round robin, those that failed lately last.
func (m *Master) endpointTargets(domain string) []target {
	var targets []target
	m.onLoop(func() {
		e := m.lookupEndpoint(domain)
		if e == nil || len(e.backends) == 0 {
			return
		}
		start := int(e.next.Add(1))
		for i := range e.backends {
			if t, ok := m.targetOf(e.backends[(start+i)%len(e.backends)]); ok {
				targets = append(targets, t)
			}
		}
	})
	now := time.Now()
	var up, down []target
	m.gw.mu.Lock()
	for _, t := range targets {
		if until, ok := m.gw.down[t.b]; ok && now.Before(until) {
			down = append(down, t)
		} else {
			up = append(up, t)
		}
	}
	m.gw.mu.Unlock()
	return append(up, down...)
}

// backendTarget finds where a backend's container runs now.
func (m *Master) backendTarget(b backend) (t target, ok bool) {
	m.onLoop(func() { t, ok = m.targetOf(b) })
	return t, ok
}

// targetOf is backendTarget on the actor loop.
func (m *Master) targetOf(b backend) (target, bool) {
	c := m.containers[b.container]
	if c == nil {
		return target{}, false
	}
	n := m.nodes[c.node]
	if n == nil || !n.online {
		return target{}, false
	}
	return target{b: b, session: c.session, nodeID: n.name, peer: n.peer}, true
}

// markDown puts a backend last in its domain's rotation for downFor.
func (m *Master) markDown(b backend) {
	m.gw.mu.Lock()
	m.gw.down[b] = time.Now().Add(downFor)
	m.gw.mu.Unlock()
}

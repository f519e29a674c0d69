package master

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tffs/tffs/protocol"
)

// The web gateway: the master serves HTTP (and HTTPS, the certificate
// chosen by SNI) for the domains sessions publish, balancing requests
// round robin across the domain's containers. It reaches a container the
// way a tunnel does (over the link to its node, which connects inside the
// container's namespace), so it needs no place on the containers' LAN and
// works for every node whatever its network. A container that refuses
// connections, or accepts them and does not answer within GatewayTimeout,
// is skipped for a while; one that goes is taken out.

var bucketDomains = []byte("domains") // domain → account that claimed it

// endpoint is a published domain (owned by the actor).
type endpoint struct {
	domain, account, session string
	backends                 []backend
	cert                     *tls.Certificate
	next                     atomic.Uint64
}

type backend struct {
	container string
	port      int
}

// gateway is the web gateway's listeners and dial state.
type gateway struct {
	mu        sync.Mutex
	down      map[backend]time.Time // backends that refused or did not answer, until when
	servers   []*http.Server
	http, tls net.Listener
	streamID  atomic.Uint64
}

// downFor is how long a backend that refused or did not answer is tried
// only after the others.
const downFor = 10 * time.Second

// chosenKey is the context key of a proxied request's chosenBackend.
type chosenKey struct{}

// chosenBackend is the backend a proxied request's connection reached.
type chosenBackend struct {
	b   backend
	set bool
}

// startGateway binds the gateway's listeners (none when both are "").
func (m *Master) startGateway() error {
	m.gw.down = map[backend]time.Time{}
	m.endpoints = map[string]*endpoint{}
	if err := m.store.db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketDomains)
		return err
	}); err != nil {
		return err
	}
	timeout := m.cfg.GatewayTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = r.In.Host
			r.SetXForwarded()
			// gatewayDial notes the backend it reached, for the error
			// handler.
			r.Out = r.Out.WithContext(context.WithValue(r.Out.Context(), chosenKey{}, new(chosenBackend)))
		},
		Transport: m.newGatewayTransport(timeout),
		ModifyResponse: func(resp *http.Response) error {
			if ch, ok := resp.Request.Context().Value(chosenKey{}).(*chosenBackend); ok && ch.set {
				m.gw.mu.Lock()
				delete(m.gw.down, ch.b) // it answers: back in the rotation
				m.gw.mu.Unlock()
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			code := http.StatusBadGateway
			if ch, ok := r.Context().Value(chosenKey{}).(*chosenBackend); ok && ch.set {
				// It accepted the connection and then failed or did
				// not answer in time: out of the rotation for a while.
				m.markDown(ch.b)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					code = http.StatusGatewayTimeout
				}
			}
			http.Error(w, "tffs gateway: "+err.Error(), code)
		},
	}
	for _, l := range []struct {
		addr string
		tls  bool
	}{{m.cfg.HTTPListen, false}, {m.cfg.HTTPSListen, true}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("master: gateway: %w", err)
		}
		srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 30 * time.Second}
		if l.tls {
			srv.TLSConfig = &tls.Config{GetCertificate: m.certFor}
			m.gw.tls = ln
			ln = tls.NewListener(ln, srv.TLSConfig)
		} else {
			m.gw.http = ln
		}
		m.gw.servers = append(m.gw.servers, srv)
		go srv.Serve(ln)
	}
	return nil
}

// stopGateway closes the gateway's listeners and connections.
func (m *Master) stopGateway() {
	for _, s := range m.gw.servers {
		s.Close()
	}
}

// HTTPAddr is the gateway's HTTP address ("" if it has none).
func (m *Master) HTTPAddr() string {
	if m.gw.http == nil {
		return ""
	}
	return m.gw.http.Addr().String()
}

// HTTPSAddr is the gateway's HTTPS address ("" if it has none).
func (m *Master) HTTPSAddr() string {
	if m.gw.tls == nil {
		return ""
	}
	return m.gw.tls.Addr().String()
}

// gatewayOffer adds the gateway and the session's endpoints to an offer.
func (m *Master) gatewayOffer(s *session, o *protocol.Offer) {
	o.Gateway = protocol.GatewayInfo{HTTP: m.HTTPAddr(), HTTPS: m.HTTPSAddr()}
	for _, e := range m.endpoints {
		if e.session != s.id {
			continue
		}
		info := protocol.EndpointInfo{Domain: e.domain, TLS: e.cert != nil}
		for _, b := range e.backends {
			if c := m.containers[b.container]; c != nil {
				info.Containers = append(info.Containers, c.name)
			}
		}
		o.Endpoints = append(o.Endpoints, info)
	}
	sort.Slice(o.Endpoints, func(i, j int) bool { return o.Endpoints[i].Domain < o.Endpoints[j].Domain })
}

// lookupEndpoint finds the endpoint of host (exact, then the wildcard of
// its parent domain). Actor only.
func (m *Master) lookupEndpoint(host string) *endpoint {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if e := m.endpoints[host]; e != nil {
		return e
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		return m.endpoints["*"+host[i:]]
	}
	return nil
}

func (m *Master) certFor(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var cert *tls.Certificate
	m.onLoop(func() {
		if e := m.lookupEndpoint(hello.ServerName); e != nil {
			cert = e.cert
		}
	})
	if cert == nil {
		return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
	}
	return cert, nil
}

// target is one backend as the gateway dials it.
type target struct {
	b               backend
	session, nodeID string
	peer            string
}

// dialBackend opens one connection to a container's port through its node.
func (m *Master) dialBackend(ctx context.Context, t target) (net.Conn, error) {
	upID, downID := 1<<62|m.gw.streamID.Add(2), 1<<62|m.gw.streamID.Add(2)+1
	scope := "node:" + t.nodeID
	send := func(d *protocol.Msg) error { return m.srv.Send(t.peer, d) }
	down := protocol.NewReceiver(func(seq uint64) {
		m.srv.Send(t.peer, &protocol.Msg{Kind: protocol.KindAck, Stream: downID, Seq: seq})
	})
	m.streams.AddReceiver(protocol.StreamKey{Scope: scope, ID: downID}, down)
	up := protocol.NewSender(upID, protocol.Msg{}, send)
	m.streams.AddSender(protocol.StreamKey{Scope: scope, ID: upID}, up)
	release := func() {
		m.streams.Remove(protocol.StreamKey{Scope: scope, ID: upID})
		m.streams.Remove(protocol.StreamKey{Scope: scope, ID: downID})
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req := protocol.GatewayDial{Session: t.session, Dial: protocol.TunnelDial{Port: t.b.port, Up: upID, Down: downID}}
	err := m.calls.Call(dctx, send, protocol.OpGatewayDial, req, nil, func(msg *protocol.Msg) { msg.Container = t.b.container })
	if err != nil {
		up.Close(err)
		down.Abort()
		release()
		return nil, fmt.Errorf("container %s port %d: %w", t.b.container, t.b.port, err)
	}
	// The proxy wants a net.Conn: one end of a pipe, the other end copied
	// to and from the streams.
	a, b := net.Pipe()
	go func() {
		_, err := io.Copy(up, b)
		up.Close(err)
	}()
	go func() {
		io.Copy(b, down)
		b.Close()
		down.Abort()
		release()
	}()
	return a, nil
}

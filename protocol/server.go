package protocol

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// maxSessionName bounds the session name a client sends with its messages.
const maxSessionName = 128

// MaxSessionsPerKey bounds how many session names one key holds at a time
// at a server; a new name past it is refused with ErrLimit.
const MaxSessionsPerKey = 1024

// Incoming is a message the server received, with the authenticated sender.
type Incoming struct {
	Peer string // the sender's session name: Send(Peer, …) answers it
	Key  string // the sender's CURVE public key, as checked by ZAP
	Msg  *Msg
}

// route is where a session name is reached: the connection that last sent
// a message under it, and the key the name is bound to.
type route struct {
	conn string // ZeroMQ routing id of the connection
	key  string
	seen time.Time
	link *linkEnd // nil for a peer that sends outside a link
	// broken is set when the server declared the link broken: the peer
	// is told to start a new one whenever it speaks on the old one.
	broken     bool
	brokenLink uint64
}

// Server is the master's ROUTER socket: CURVE server with ZAP, so only keys
// allowed for its domain complete the handshake.
//
// Sessions are bound to keys. A client names its session in every message
// (Dial); the server binds the name to the key that first used it and
// delivers what is sent to the name to the connection that last sent under
// it from that key. The same name from another key is refused and logged,
// and moves nothing. A connection's routing id is a random secret of its
// client, sent only inside the CURVE handshake and never logged, so no
// other client can take over a connection by claiming its routing id.
type Server struct {
	p         *pump
	in        chan Incoming
	domain    string
	addr      string
	routeIdle atomic.Int64 // nanoseconds; a name silent this long may be forgotten

	// Owned by the socket goroutine.
	routes map[string]*route
	perKey map[string]int
	warn   WarnLimiter
	epoch  uint64 // this server's incarnation
	sock   *zmq.Socket
	log    *slog.Logger
}

// Listen binds a CURVE ROUTER at addr (e.g. "tcp://127.0.0.1:2020"). domain
// names the set of admitted keys (see Allow); one domain per server.
func Listen(addr string, kp KeyPair, domain string, log *slog.Logger) (*Server, error) {
	if err := startAuth(); err != nil {
		return nil, fmt.Errorf("start zap: %w", err)
	}
	s := &Server{p: newPump(log), in: make(chan Incoming, recvQueue), domain: domain,
		routes: map[string]*route{}, perKey: map[string]int{}, epoch: newIncarnation(), log: log}
	s.routeIdle.Store(int64(time.Hour))
	mk := func() (*zmq.Socket, func() error, error) {
		sock, err := zmq.NewSocket(zmq.ROUTER)
		if err != nil {
			return nil, nil, err
		}
		sock.SetLinger(0)
		sock.SetSndhwm(socketHWM)
		sock.SetRcvhwm(socketHWM)
		// Handover lets a client's reconnection take its routing id back
		// from a connection the server has not yet seen die. Client routing
		// ids are secrets (see Dial), so only their owner can claim one.
		sock.SetRouterHandover(true)
		sock.SetMaxmsgsize(MaxMessageSize + 4096)
		sock.SetHeartbeatIvl(zmqHBIvl)
		sock.SetHeartbeatTimeout(zmqHBTimer)
		if err := sock.ServerAuthCurve(domain, kp.Secret); err != nil {
			sock.Close()
			return nil, nil, err
		}
		if err := bindRetry(sock, addr); err != nil {
			sock.Close()
			return nil, nil, fmt.Errorf("bind %s: %w", addr, err)
		}
		s.addr, _ = sock.GetLastEndpoint()
		return sock, nil, nil
	}
	handle := func(sock *zmq.Socket, frames [][]byte, key string) { s.sock = sock; s.receive(sock, log, frames, key) }
	send := func(sock *zmq.Socket, o outgoing) { s.sock = sock; s.send(sock, log, o) }
	tick := func(sock *zmq.Socket, now time.Time) { s.sock = sock; s.tick(now) }
	ready := make(chan error, 1)
	go s.p.run(mk, send, "", handle, nil, tick, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return s, nil
}

// receive runs in the socket goroutine for each inbound message: frames are
// [connection, session name, link header, message] from a Dial client,
// [connection, session name, message] outside a link, or [connection,
// message] from a peer that names no session (its connection is then its
// session).
func (s *Server) receive(sock *zmq.Socket, log *slog.Logger, frames [][]byte, key string) {
	var conn, name string
	var data []byte
	var hdr *linkHeader
	switch len(frames) {
	case 2:
		conn, data = string(frames[0]), frames[1]
		name = conn
	case 3:
		conn, name, data = string(frames[0]), string(frames[1]), frames[2]
	case 4:
		conn, name, data = string(frames[0]), string(frames[1]), frames[3]
		h, err := parseLinkHeader(frames[2])
		if err != nil {
			s.warn.Warn(log, key, "transport: dropped message with a bad link header", "key", ShortKey(key))
			return
		}
		hdr = &h
	default:
		s.warn.Warn(log, key, "transport: dropped message with bad framing", "frames", len(frames), "key", ShortKey(key))
		return
	}
	// A message on a link is decoded once, when the link delivers it; here
	// only to answer a refusal (decode builds what refuse needs).
	var m *Msg
	decode := func() bool {
		if m != nil {
			return true
		}
		if hdr != nil && hdr.Flags&hdrData == 0 {
			m = &Msg{Kind: KindAck} // a link acknowledgement: refused like any non-request
			return true
		}
		var err error
		if m, err = Decode(data); err != nil {
			s.warn.Warn(log, key, "transport: dropped malformed message", "err", err, "key", ShortKey(key))
			return false
		}
		return true
	}
	if hdr == nil && !decode() {
		return
	}
	if name == "" || len(name) > maxSessionName {
		if decode() {
			s.refuse(sock, conn, m, fmt.Errorf("session name of %d bytes: %w", len(name), ErrInvalid))
		}
		return
	}
	now := time.Now()
	r := s.routes[name]
	if r != nil && r.key != key {
		s.warn.Warn(log, key, "transport: a session name bound to another key was used: refused",
			"key", ShortKey(key), "owner", ShortKey(r.key))
		if decode() {
			s.refuse(sock, conn, m, fmt.Errorf("this session belongs to another key: %w", ErrPermission))
		}
		return
	}
	if r == nil {
		if s.perKey[key] >= MaxSessionsPerKey {
			s.sweep(now, key)
		}
		if s.perKey[key] >= MaxSessionsPerKey {
			s.warn.Warn(log, key, "transport: too many sessions for one key: refused", "key", ShortKey(key))
			if decode() {
				s.refuse(sock, conn, m, fmt.Errorf("%d sessions are open for this key: %w", MaxSessionsPerKey, ErrLimit))
			}
			return
		}
		r = &route{key: key}
		s.routes[name] = r
		s.perKey[key]++
	}
	r.conn, r.seen = conn, now
	if hdr != nil {
		s.receiveLink(name, r, *hdr, data, now)
		return
	}
	s.up(name, key, m)
}

func (s *Server) up(name, key string, m *Msg) {
	select {
	case s.in <- Incoming{Peer: name, Key: key, Msg: m}:
	case <-s.p.closed:
	}
}

// refuse answers a request on the connection it came from, without
// touching any session.
func (s *Server) refuse(sock *zmq.Socket, conn string, m *Msg, err error) {
	if m.Kind != KindRequest {
		return
	}
	if b, e := Encode(m.Reply(nil, err)); e == nil {
		sock.SendMessageDontwait(conn, b)
	}
}

// sweep forgets the routes of key that have been silent for the idle time.
func (s *Server) sweep(now time.Time, key string) {
	idle := time.Duration(s.routeIdle.Load())
	for name, r := range s.routes {
		if r.key == key && now.Sub(r.seen) > idle {
			s.drop(name, r)
		}
	}
}

func (s *Server) drop(name string, r *route) {
	delete(s.routes, name)
	if s.perKey[r.key]--; s.perKey[r.key] <= 0 {
		delete(s.perKey, r.key)
	}
}

// send runs in the socket goroutine for each queued operation.
func (s *Server) send(sock *zmq.Socket, log *slog.Logger, o outgoing) {
	switch o.op {
	case opSend:
		r := s.routes[o.peer]
		if r == nil || r.conn == "" {
			log.Debug("transport: no connection for a session: dropped")
			return
		}
		if r.link != nil {
			s.sendLink(o.peer, r, o.data)
			return
		}
		if r.broken {
			return // the peer learns of the reset when it speaks
		}
		if _, err := sock.SendMessageDontwait(r.conn, o.data); err != nil {
			log.Debug("transport: send dropped", "err", err)
		}
	case opForget:
		if r := s.routes[o.peer]; r != nil {
			s.drop(o.peer, r)
		}
	case opBind:
		if s.routes[o.peer] == nil {
			s.routes[o.peer] = &route{key: string(o.data), seen: time.Now()}
			s.perKey[string(o.data)]++
		}
	}
}

// Addr is the endpoint the server is bound to.
func (s *Server) Addr() string { return s.addr }

// Allow admits a public key at the handshake.
func (s *Server) Allow(pub string) { zap.add(s.domain, pub) }

// Revoke stops admitting a public key at the handshake. Its connections
// stay up until they close, and what they send still arrives with the key,
// for the caller to refuse; the caller Forgets its sessions as they end.
func (s *Server) Revoke(pub string) { zap.remove(s.domain, pub) }

// Forget unbinds a session name from its key once its session is over.
// Messages queued for it before are still delivered.
func (s *Server) Forget(session string) { s.p.queue(opForget, session, nil) }

// Bind binds a session name to a key before its client speaks again, as
// for a session a restarted master restores: only that key may then use
// the name. A name already bound is left as it is.
func (s *Server) Bind(session, key string) { s.p.queue(opBind, session, []byte(key)) }

// SetRouteIdle sets how long a session name may be silent before the
// server may forget it to make room for its key's new sessions (default 1h).
func (s *Server) SetRouteIdle(d time.Duration) { s.routeIdle.Store(int64(d)) }

// Recv delivers incoming messages.
func (s *Server) Recv() <-chan Incoming { return s.in }

// Send queues a message to a session (Incoming.Peer).
func (s *Server) Send(peer string, m *Msg) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return s.p.queue(opSend, peer, b)
}

// Close stops the server's goroutines and closes its socket.
func (s *Server) Close() {
	s.p.close()
	zap.removeAll(s.domain)
}

// receiveLink handles a message that came over a link (see the package doc
// for the incarnation rules).
func (s *Server) receiveLink(name string, r *route, h linkHeader, data []byte, now time.Time) {
	switch {
	case h.Server != 0 && h.Server != s.epoch:
		s.sendReset(r.conn, h.Link) // the peer spoke to an earlier run of this server
		return
	case r.link != nil && r.link.link == h.Link:
	case r.broken && h.Link == r.brokenLink, h.Server != 0:
		s.sendReset(r.conn, h.Link) // a link this server declared broken, or forgot
		return
	default: // the peer started a new link
		if r.link != nil {
			s.up(name, r.key, &Msg{Kind: KindLinkReset, Err: WireError(fmt.Errorf("the peer started a new link: %w", ErrUnavailable))})
		}
		r.broken = false
		key := r.key
		r.link = &linkEnd{link: h.Link, server: s.epoch,
			out:     func(h linkHeader, data []byte) { s.sendFrames(r, h, data) },
			deliver: func(data []byte) { s.deliver(name, key, data) }}
	}
	r.link.receive(h, data, now)
}

func (s *Server) deliver(name, key string, data []byte) {
	m, err := Decode(data)
	if err != nil {
		s.warn.Warn(s.log, key, "transport: dropped malformed message", "err", err, "key", ShortKey(key))
		return
	}
	s.up(name, key, m)
}

func (s *Server) sendFrames(r *route, h linkHeader, data []byte) {
	if data == nil {
		data = []byte{}
	}
	if _, err := s.sock.SendMessageDontwait(r.conn, h.bytes(), data); err != nil {
		s.log.Debug("transport: send deferred to a resend", "err", err)
	}
}

func (s *Server) sendReset(conn string, link uint64) {
	h := linkHeader{Flags: hdrReset, Link: link, Server: s.epoch}
	s.sock.SendMessageDontwait(conn, h.bytes(), []byte{})
}

func (s *Server) sendLink(name string, r *route, data []byte) {
	if err := r.link.send(data, time.Now()); err != nil {
		s.breakLink(name, r, err)
	}
}

// breakLink declares the link of session name broken: its consumer gets a
// KindLinkReset and the peer is told to start a new link.
func (s *Server) breakLink(name string, r *route, err error) {
	s.log.Warn("transport: link to a peer reset; its calls and streams in flight fail", "peer", ShortKey(r.key), "err", err)
	r.broken, r.brokenLink = true, r.link.link
	r.link = nil
	s.sendReset(r.conn, r.brokenLink)
	s.up(name, r.key, &Msg{Kind: KindLinkReset, Err: WireError(err)})
}

func (s *Server) tick(now time.Time) {
	for name, r := range s.routes {
		if r.link == nil {
			continue
		}
		if err := r.link.tick(now); err != nil {
			s.breakLink(name, r, err)
		}
	}
}

// bindWait is how long a bind waits for its address to be free: libzmq
// closes a listener on its I/O thread after the socket's Close has
// returned, so a server closed and made again on the same port (a master
// restarted in one process) may find it still taken for a moment.
const bindWait = 3 * time.Second

// bindRetry binds sock to addr, retrying while the address is in use, up
// to bindWait.
func bindRetry(sock *zmq.Socket, addr string) error {
	deadline := time.Now().Add(bindWait)
	for {
		err := sock.Bind(addr)
		if err == nil || zmq.AsErrno(err) != zmq.EADDRINUSE || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

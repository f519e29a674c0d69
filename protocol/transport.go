package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// DefaultPort is the master's default TCP port.
const DefaultPort = 2020

// Tuning shared by both ends of a connection.
const (
	sendQueue  = 4096 // messages waiting for the socket's goroutine
	recvQueue  = 4096 // decoded messages waiting for their consumer
	socketHWM  = 100000
	zmqHBIvl   = time.Second
	zmqHBTimer = 10 * time.Second
)

var transportSeq atomic.Uint64

// outgoing is a message for the socket goroutine: peer is the ROUTER
// routing id (empty on a DEALER).
type outgoing struct {
	peer string
	data []byte
}

// pump owns one ZeroMQ socket in one goroutine and moves messages between it
// and Go channels. Other goroutines never touch the socket: they queue to out,
// and a second goroutine owning an inproc PUSH socket wakes the pump.
type pump struct {
	log     *slog.Logger
	out     chan outgoing
	wakeURL string
	closed  chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newPump(log *slog.Logger) *pump {
	return &pump{
		log:     log,
		out:     make(chan outgoing, sendQueue),
		wakeURL: fmt.Sprintf("inproc://tffs-pump-%d", transportSeq.Add(1)),
		closed:  make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// queue hands data to the socket goroutine.
func (p *pump) queue(peer string, data []byte) error {
	select {
	case <-p.closed:
		return fmt.Errorf("connection closed: %w", ErrUnavailable)
	default:
	}
	select {
	case p.out <- outgoing{peer, data}:
		return nil
	case <-p.closed:
		return fmt.Errorf("connection closed: %w", ErrUnavailable)
	}
}

// close stops the pump and waits for its goroutines.
func (p *pump) close() {
	p.once.Do(func() { close(p.closed) })
	<-p.done
}

// forward runs in its own goroutine: it owns the PUSH end of the wake pipe
// and carries queued messages to the socket goroutine.
func (p *pump) forward(ready chan<- error) {
	push, err := zmq.NewSocket(zmq.PUSH)
	if err == nil {
		err = push.Bind(p.wakeURL)
	}
	ready <- err
	if err != nil {
		return
	}
	defer push.Close()
	push.SetLinger(0)
	push.SetSndhwm(socketHWM)
	for {
		select {
		case o := <-p.out:
			if _, err := push.SendMessage(o.peer, o.data); err != nil {
				p.log.Warn("transport: wake pipe", "err", err)
			}
		case <-p.closed:
			for drained := false; !drained; { // what was queued before Close still goes out
				select {
				case o := <-p.out:
					push.SendMessage(o.peer, o.data)
				default:
					drained = true
				}
			}
			push.SendMessage("", "") // a zero-length payload tells the socket goroutine to stop
			return
		}
	}
}

// socketFunc creates and configures the network socket inside the socket
// goroutine. The connect step it returns (nil for none) runs once the
// monitor's reader is attached, so no handshake event can be missed.
type socketFunc func() (sock *zmq.Socket, connect func() error, err error)

// run owns the network socket: it delivers inbound frames to handle and
// sends what arrives on the wake pipe. monitor, when not nil, is a socket
// monitor address polled in the same goroutine.
func (p *pump) run(mk socketFunc, router bool, monitor string, handle func(frames [][]byte, userID string), onEvent func(zmq.Event), ready chan<- error) {
	defer close(p.done)
	fwdReady := make(chan error, 1)
	go p.forward(fwdReady)
	if err := <-fwdReady; err != nil {
		ready <- err
		return
	}
	sock, connect, err := mk()
	if err != nil {
		p.once.Do(func() { close(p.closed) })
		ready <- err
		return
	}
	defer sock.Close()
	pull, err := zmq.NewSocket(zmq.PULL)
	if err == nil {
		pull.SetRcvhwm(socketHWM)
		err = pull.Connect(p.wakeURL)
	}
	if err != nil {
		sock.Close()
		p.once.Do(func() { close(p.closed) })
		ready <- err
		return
	}
	defer pull.Close()
	var mon *zmq.Socket
	poller := zmq.NewPoller()
	poller.Add(sock, zmq.POLLIN)
	poller.Add(pull, zmq.POLLIN)
	if monitor != "" {
		mon, err = zmq.NewSocket(zmq.PAIR)
		if err == nil {
			err = mon.Connect(monitor)
		}
		if err != nil {
			p.once.Do(func() { close(p.closed) })
			ready <- err
			return
		}
		// Stop monitoring before the reader goes: libzmq sends monitor
		// events from its I/O thread with a blocking send, so an event
		// with no reader (a disconnect while the socket closes) would
		// wedge that thread and every socket of the process with it.
		defer func() {
			sock.Monitor("", 0)
			mon.Close()
		}()
		poller.Add(mon, zmq.POLLIN)
	}
	if connect != nil {
		if err := connect(); err != nil {
			p.once.Do(func() { close(p.closed) })
			ready <- err
			return
		}
	}
	ready <- nil
	for {
		polled, err := poller.PollAll(-1)
		if err != nil {
			if errors.Is(zmq.AsErrno(err), zmq.Errno(4)) { // EINTR
				continue
			}
			p.log.Error("transport: poll", "err", err)
			return
		}
		for i, pl := range polled {
			if pl.Events&zmq.POLLIN == 0 {
				continue
			}
			switch i {
			case 0:
				for {
					frames, userID, err := recvWithUser(sock)
					if err != nil {
						break
					}
					handle(frames, userID)
				}
			case 1:
				for {
					frames, err := pull.RecvMessageBytes(zmq.DONTWAIT)
					if err != nil {
						break
					}
					if len(frames) != 2 || len(frames[1]) == 0 {
						return // stop request
					}
					if router {
						_, err = sock.SendMessageDontwait(frames[0], frames[1])
					} else {
						_, err = sock.SendMessageDontwait(frames[1])
					}
					if err != nil {
						p.log.Debug("transport: send dropped", "err", err)
					}
				}
			case 2:
				for {
					ev, _, _, err := mon.RecvEvent(zmq.DONTWAIT)
					if err != nil {
						break
					}
					onEvent(ev)
				}
			}
		}
	}
}

// recvWithUser reads one multipart message without blocking and returns it
// with the User-Id the ZAP handler attached to its connection. The metadata
// rides on the peer's own frames, not on a ROUTER's routing-id frame.
func recvWithUser(sock *zmq.Socket) ([][]byte, string, error) {
	var frames [][]byte
	userID := ""
	flags := zmq.DONTWAIT
	for {
		b, md, err := sock.RecvBytesWithMetadata(flags, "User-Id")
		if err != nil {
			return nil, "", err
		}
		flags = 0
		if u := md["User-Id"]; u != "" {
			userID = u
		}
		frames = append(frames, b)
		more, err := sock.GetRcvmore()
		if err != nil || !more {
			return frames, userID, nil
		}
	}
}

var authOnce sync.Once
var authErr error

// startAuth starts the process-wide ZAP handler once. It admits only keys
// added with AuthCurveAdd for the socket's domain and stamps each
// connection's messages with its public key as User-Id.
func startAuth() error {
	authOnce.Do(func() {
		zmq.AuthSetMetadataHandler(func(version, requestID, domain, address, identity, mechanism string, credentials ...string) map[string]string {
			md := map[string]string{}
			if mechanism == "CURVE" && len(credentials) > 0 && len(credentials[0]) == 32 {
				md["User-Id"] = zmq.Z85encode(credentials[0])
			}
			return md
		})
		authErr = zmq.AuthStart()
	})
	return authErr
}

// Incoming is a message the server received, with the authenticated sender.
type Incoming struct {
	Peer string // routing id of the sending connection
	Key  string // the sender's CURVE public key, as checked by ZAP
	Msg  *Msg
}

// Server is the master's ROUTER socket: CURVE server with ZAP, so only keys
// allowed for its domain complete the handshake.
type Server struct {
	p      *pump
	in     chan Incoming
	domain string
	addr   string
}

// Listen binds a CURVE ROUTER at addr (e.g. "tcp://127.0.0.1:2020"). domain
// names the set of admitted keys (see Allow); one domain per server.
func Listen(addr string, kp KeyPair, domain string, log *slog.Logger) (*Server, error) {
	if err := startAuth(); err != nil {
		return nil, fmt.Errorf("start zap: %w", err)
	}
	s := &Server{p: newPump(log), in: make(chan Incoming, recvQueue), domain: domain}
	mk := func() (*zmq.Socket, func() error, error) {
		sock, err := zmq.NewSocket(zmq.ROUTER)
		if err != nil {
			return nil, nil, err
		}
		sock.SetLinger(0)
		sock.SetSndhwm(socketHWM)
		sock.SetRcvhwm(socketHWM)
		sock.SetRouterHandover(true)
		sock.SetMaxmsgsize(MaxMessageSize + 4096)
		sock.SetHeartbeatIvl(zmqHBIvl)
		sock.SetHeartbeatTimeout(zmqHBTimer)
		if err := sock.ServerAuthCurve(domain, kp.Secret); err != nil {
			sock.Close()
			return nil, nil, err
		}
		if err := sock.Bind(addr); err != nil {
			sock.Close()
			return nil, nil, fmt.Errorf("bind %s: %w", addr, err)
		}
		s.addr, _ = sock.GetLastEndpoint()
		return sock, nil, nil
	}
	handle := func(frames [][]byte, key string) {
		if len(frames) != 2 {
			log.Warn("transport: dropped message with bad framing", "frames", len(frames))
			return
		}
		m, err := Decode(frames[1])
		if err != nil {
			log.Warn("transport: dropped malformed message", "err", err, "key", key)
			return
		}
		select {
		case s.in <- Incoming{Peer: string(frames[0]), Key: key, Msg: m}:
		case <-s.p.closed:
		}
	}
	ready := make(chan error, 1)
	go s.p.run(mk, true, "", handle, nil, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the endpoint the server is bound to.
func (s *Server) Addr() string { return s.addr }

// Allow admits a public key at the handshake.
func (s *Server) Allow(pub string) { zmq.AuthCurveAdd(s.domain, pub) }

// Revoke stops admitting a public key (existing connections stay up).
func (s *Server) Revoke(pub string) { zmq.AuthCurveRemove(s.domain, pub) }

// Recv delivers incoming messages.
func (s *Server) Recv() <-chan Incoming { return s.in }

// Send queues a message to the connection with routing id peer.
func (s *Server) Send(peer string, m *Msg) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return s.p.queue(peer, b)
}

// Close stops the server's goroutines and closes its socket.
func (s *Server) Close() {
	s.p.close()
	zmq.AuthCurveRemoveAll(s.domain)
}

// Client is a DEALER connection to a master.
type Client struct {
	p      *pump
	in     chan *Msg
	events chan zmq.Event
}

// Dial connects to the master at addr whose public key is serverPub, as the
// key pair kp. identity is the routing id (a session id): reconnecting with
// the same identity resumes the session. Dial returns once the CURVE
// handshake succeeded, ErrPermission if the master refused the key, or
// ErrUnavailable if ctx ends first.
func Dial(ctx context.Context, addr, serverPub string, kp KeyPair, identity string, log *slog.Logger) (*Client, error) {
	c := &Client{p: newPump(log), in: make(chan *Msg, recvQueue), events: make(chan zmq.Event, 64)}
	monURL := fmt.Sprintf("inproc://tffs-mon-%d", transportSeq.Add(1))
	mk := func() (*zmq.Socket, func() error, error) {
		sock, err := zmq.NewSocket(zmq.DEALER)
		if err != nil {
			return nil, nil, err
		}
		sock.SetLinger(250 * time.Millisecond) // a goodbye queued before Close still leaves
		sock.SetSndhwm(socketHWM)
		sock.SetRcvhwm(socketHWM)
		sock.SetIdentity(identity)
		sock.SetReconnectIvl(100 * time.Millisecond)
		sock.SetHeartbeatIvl(zmqHBIvl)
		sock.SetHeartbeatTimeout(zmqHBTimer)
		sock.SetMaxmsgsize(MaxMessageSize + 4096)
		if err := sock.ClientAuthCurve(serverPub, kp.Public, kp.Secret); err != nil {
			sock.Close()
			return nil, nil, err
		}
		if err := sock.Monitor(monURL, zmq.EVENT_HANDSHAKE_SUCCEEDED|zmq.EVENT_HANDSHAKE_FAILED_AUTH|zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL|zmq.EVENT_DISCONNECTED); err != nil {
			sock.Close()
			return nil, nil, err
		}
		connect := func() error {
			if err := sock.Connect(addr); err != nil {
				return fmt.Errorf("connect %s: %w", addr, err)
			}
			return nil
		}
		return sock, connect, nil
	}
	handle := func(frames [][]byte, _ string) {
		if len(frames) != 1 {
			return
		}
		m, err := Decode(frames[0])
		if err != nil {
			log.Warn("transport: dropped malformed message", "err", err)
			return
		}
		select {
		case c.in <- m:
		case <-c.p.closed:
		}
	}
	onEvent := func(ev zmq.Event) {
		select {
		case c.events <- ev:
		default:
		}
	}
	ready := make(chan error, 1)
	go c.p.run(mk, false, monURL, handle, onEvent, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	for {
		select {
		case ev := <-c.events:
			switch {
			case ev&zmq.EVENT_HANDSHAKE_SUCCEEDED != 0:
				return c, nil
			case ev&zmq.EVENT_HANDSHAKE_FAILED_AUTH != 0:
				c.Close()
				return nil, fmt.Errorf("master %s refused this key (%s…): %w", addr, kp.Public[:8], ErrPermission)
			case ev&zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL != 0:
				c.Close()
				return nil, fmt.Errorf("handshake with %s failed (wrong master key?): %w", addr, ErrPermission)
			}
		case <-ctx.Done():
			c.Close()
			return nil, fmt.Errorf("connect %s: %v: %w", addr, ctx.Err(), ErrUnavailable)
		}
	}
}

// Recv delivers incoming messages.
func (c *Client) Recv() <-chan *Msg { return c.in }

// Send queues a message to the master.
func (c *Client) Send(m *Msg) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return c.p.queue("", b)
}

// Close stops the connection's goroutines and closes its socket.
func (c *Client) Close() { c.p.close() }

// TCPAddr turns "host:port" or "host" into a ZeroMQ tcp endpoint.
func TCPAddr(hostport string) string {
	if strings.HasPrefix(hostport, "tcp://") {
		return hostport
	}
	if !strings.Contains(hostport, ":") {
		hostport = fmt.Sprintf("%s:%d", hostport, DefaultPort)
	}
	return "tcp://" + hostport
}

package protocol

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
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

// outgoing is a message for the socket goroutine. On a server, peer is the
// session name the message goes to (opSend), to forget (opForget) or to
// bind to a key (opBind); on a
// client it is the client's session name, sent as the first frame of every
// message.
type outgoing struct {
	op   string
	peer string
	data []byte
}

// Operations on the wake pipe.
const (
	opSend   = "s"
	opForget = "f"
	opBind   = "b" // server: bind the session name peer to the key in data
)

// pump owns one ZeroMQ socket in one goroutine and moves messages between it
// and Go channels. Other goroutines never touch the socket: they queue to
// out, and a second goroutine owning an inproc PUSH socket wakes the pump
// with a one-byte token (the poller sees only ZeroMQ sockets). The socket
// goroutine takes the messages from out itself, so a message's bytes cross
// no inproc pipe: no extra copy, allocation or cgo call per message.
type pump struct {
	log     *slog.Logger
	out     chan outgoing
	wake    chan struct{} // a token: out has something (coalesced)
	wakeURL string
	closed  chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newPump(log *slog.Logger) *pump {
	return &pump{
		log:     log,
		out:     make(chan outgoing, sendQueue),
		wake:    make(chan struct{}, 1),
		wakeURL: fmt.Sprintf("inproc://tffs-pump-%d", transportSeq.Add(1)),
		closed:  make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// queue hands data to the socket goroutine.
func (p *pump) queue(op, peer string, data []byte) error {
	select {
	case <-p.closed:
		return fmt.Errorf("connection closed: %w", ErrUnavailable)
	default:
	}
	select {
	case p.out <- outgoing{op, peer, data}:
	case <-p.closed:
		return fmt.Errorf("connection closed: %w", ErrUnavailable)
	}
	select {
	case p.wake <- struct{}{}:
	default: // a token is pending already: the socket goroutine will look
	}
	return nil
}

// close stops the pump and waits for its goroutines.
func (p *pump) close() {
	p.once.Do(func() { close(p.closed) })
	<-p.done
}

// Wake-pipe tokens.
const (
	tokWake = "w"
	tokStop = "x" // what was queued before Close still goes out, then the socket goroutine stops
)

// forward runs in its own goroutine: it owns the PUSH end of the wake pipe
// and turns wake signals into tokens for the socket goroutine.
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
		case <-p.wake:
			if _, err := push.Send(tokWake, 0); err != nil {
				p.log.Warn("transport: wake pipe", "err", err)
			}
		case <-p.closed:
			push.Send(tokStop, 0)
			return
		}
	}
}

// drain hands up to max queued messages to send (all when max is 0) and
// reports whether more are waiting.
func (p *pump) drain(sock *zmq.Socket, send func(*zmq.Socket, outgoing), max int) bool {
	for i := 0; max == 0 || i < max; i++ {
		select {
		case o := <-p.out:
			send(sock, o)
		default:
			return false
		}
	}
	return len(p.out) > 0
}

// drainBatch bounds how many queued messages go out before the socket
// goroutine looks at what arrived again.
const drainBatch = 256

// socketFunc creates and configures the network socket inside the socket
// goroutine. The connect step it returns (nil for none) runs once the
// monitor's reader is attached, so no handshake event can be missed.
type socketFunc func() (sock *zmq.Socket, connect func() error, err error)

// run owns the network socket: it delivers inbound frames to handle and
// hands what arrives on the wake pipe to send (both in this goroutine).
// monitor, when not "", is a socket monitor address polled here too.
// tick, when not nil, runs every linkTick for the links' timers.
func (p *pump) run(mk socketFunc, send func(sock *zmq.Socket, o outgoing), monitor string, handle func(sock *zmq.Socket, frames [][]byte, userID string), onEvent func(*zmq.Socket, zmq.Event), tick func(*zmq.Socket, time.Time), ready chan<- error) {
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
	lastTick := time.Now()
	more := false // messages wait in out: poll without blocking
	for {
		timeout := linkTick
		if more {
			timeout = 0
		}
		polled, err := poller.PollAll(timeout)
		if now := time.Now(); tick != nil && now.Sub(lastTick) >= linkTick {
			lastTick = now
			tick(sock, now)
		}
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
					handle(sock, frames, userID)
				}
			case 1:
				for {
					tok, err := pull.Recv(zmq.DONTWAIT)
					if err != nil {
						break
					}
					if tok == tokStop {
						p.drain(sock, send, 0)
						return
					}
				}
			case 2:
				for {
					ev, _, _, err := mon.RecvEvent(zmq.DONTWAIT)
					if err != nil {
						break
					}
					onEvent(sock, ev)
				}
			}
		}
		more = p.drain(sock, send, drainBatch)
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

// Client is a DEALER connection to a master.
type Client struct {
	p       *pump
	in      chan *Msg
	events  chan zmq.Event
	session string
}

// Dial connects to the master at addr whose public key is serverPub, as the
// key pair kp. session names the client's session at the master; every
// message carries it, so the master finds the session again after a
// reconnect. The master binds the name to kp's public key: the same name
// from another key is refused. The ZeroMQ routing id is a random secret of
// this connection, so no other client can claim it. Dial returns once the CURVE handshake succeeded,
// ErrPermission if the master refused the key, or ErrUnavailable if ctx
// ends first.
func Dial(ctx context.Context, addr, serverPub string, kp KeyPair, session string, log *slog.Logger) (*Client, error) {
	if session == "" || len(session) > maxSessionName {
		return nil, fmt.Errorf("session name of %d bytes: %w", len(session), ErrInvalid)
	}
	c := &Client{p: newPump(log), in: make(chan *Msg, recvQueue), events: make(chan zmq.Event, 64), session: session}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	connID := "c" + hex.EncodeToString(secret) // never logged: whoever knows it can take the connection over
	monURL := fmt.Sprintf("inproc://tffs-mon-%d", transportSeq.Add(1))
	mk := func() (*zmq.Socket, func() error, error) {
		sock, err := zmq.NewSocket(zmq.DEALER)
		if err != nil {
			return nil, nil, err
		}
		sock.SetLinger(250 * time.Millisecond) // a goodbye queued before Close still leaves
		sock.SetSndhwm(socketHWM)
		sock.SetRcvhwm(socketHWM)
		sock.SetIdentity(connID)
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
	lk := newClientLink(log, session, func(m *Msg) {
		select {
		case c.in <- m:
		case <-c.p.closed:
		}
	})
	handle := func(sock *zmq.Socket, frames [][]byte, _ string) {
		lk.sock = sock
		lk.receive(frames)
	}
	ping, _ := Encode(&Msg{Kind: KindPing})
	handshakes := 0
	onEvent := func(sock *zmq.Socket, ev zmq.Event) {
		lk.sock = sock
		if ev&zmq.EVENT_HANDSHAKE_SUCCEEDED != 0 {
			// After a reconnection, ask the master to resend what it
			// has not seen acknowledged, and speak at once, so its
			// messages for this session go to this connection.
			if handshakes++; handshakes > 1 {
				lk.reconnected()
				lk.send(ping)
			}
		}
		select {
		case c.events <- ev:
		default:
		}
	}
	send := func(sock *zmq.Socket, o outgoing) {
		lk.sock = sock
		lk.send(o.data)
	}
	tick := func(sock *zmq.Socket, now time.Time) {
		lk.sock = sock
		lk.tick(now)
	}
	ready := make(chan error, 1)
	go c.p.run(mk, send, monURL, handle, onEvent, tick, ready)
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
	return c.p.queue(opSend, c.session, b)
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

// ioThreads is how many threads libzmq gives the process for its
// connections' I/O, CURVE encryption included; each connection is served
// by one of them. One (libzmq's default) made every connection of a
// process (a master's clients and nodes alike) encrypt and decrypt on a
// single core: the ceiling of the data path.
func ioThreads() int { return max(1, min(runtime.NumCPU(), 4)) }

func init() {
	// Must happen before the first socket: libzmq starts its threads then.
	zmq.SetIoThreads(ioThreads())
}

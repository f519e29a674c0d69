package protocol

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
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

// recvWithUser reads one multipart message without blocking and returns it
// with the User-Id the ZAP handler attached to its connection. The metadata
// rides on the peer's own frames, not on a ROUTER's routing-id frame.
//
// All frames of a message come from one connection, so once a frame has
// given the User-Id the rest are read without metadata (three cgo calls a
// frame fewer).
func recvWithUser(sock *zmq.Socket) ([][]byte, string, error) {
	var frames [][]byte
	userID := ""
	flags := zmq.DONTWAIT
	for {
		var b []byte
		var err error
		if userID == "" {
			var md map[string]string
			b, md, err = sock.RecvBytesWithMetadata(flags, "User-Id")
			userID = md["User-Id"]
		} else {
			b, err = sock.RecvBytes(flags)
		}
		if err != nil {
			return nil, "", err
		}
		flags = 0
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

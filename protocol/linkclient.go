package protocol

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// newIncarnation is a random non-zero link or server incarnation id.
func newIncarnation() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// clientLink is the client's end of its link to the server. The socket
// goroutine owns it.
type clientLink struct {
	log     *slog.Logger
	session string
	sock    *zmq.Socket
	up      func(*Msg) // hands a decoded message to the consumer
	end     *linkEnd
	warn    WarnLimiter
}

func newClientLink(log *slog.Logger, session string, up func(*Msg)) *clientLink {
	c := &clientLink{log: log, session: session, up: up}
	c.fresh()
	return c
}

// fresh starts a new incarnation of the link: nothing sent or received.
func (c *clientLink) fresh() {
	c.end = &linkEnd{link: newIncarnation(), out: c.out, deliver: c.deliver}
}

func (c *clientLink) out(h linkHeader, data []byte) {
	if c.sock == nil {
		return
	}
	if data == nil {
		data = []byte{}
	}
	if _, err := c.sock.SendMessageDontwait(c.session, h.bytes(), data); err != nil {
		c.log.Debug("transport: send deferred to a resend", "err", err)
	}
}

func (c *clientLink) deliver(data []byte) {
	m, err := Decode(data)
	if err != nil {
		c.warn.Warn(c.log, "master", "transport: dropped malformed message", "err", err)
		return
	}
	c.up(m)
}

// send numbers and sends one encoded message.
func (c *clientLink) send(data []byte) {
	if err := c.end.send(data, time.Now()); err != nil {
		c.reset(err)
	}
}

// receive handles one inbound multipart message: [header, message], or a
// bare message the server sent outside the link (a refusal).
func (c *clientLink) receive(frames [][]byte) {
	switch len(frames) {
	case 1:
		c.deliver(frames[0])
		return
	case 2:
	default:
		return
	}
	h, err := parseLinkHeader(frames[0])
	if err != nil || h.Link != c.end.link {
		return // not for this incarnation of the link
	}
	switch {
	case h.Flags&hdrReset != 0:
		c.reset(fmt.Errorf("the master lost this connection's state: %w", ErrUnavailable))
		return
	case c.end.server != 0 && h.Server != c.end.server:
		c.reset(fmt.Errorf("the master restarted: %w", ErrUnavailable))
		return
	case c.end.server == 0:
		c.end.server = h.Server
	}
	c.end.receive(h, frames[1], time.Now())
}

// reconnected resends what the server may have missed.
func (c *clientLink) reconnected() {
	c.end.sendAck(true)
	if len(c.end.buf) > 0 {
		c.end.resend(time.Now())
	}
}

func (c *clientLink) tick(now time.Time) {
	if err := c.end.tick(now); err != nil {
		c.reset(err)
	}
}

// reset declares the link broken: what was unacknowledged is dropped, the
// consumer gets a KindLinkReset message carrying err, and a new incarnation
// starts with a ping, so the server drops the old one too.
func (c *clientLink) reset(err error) {
	c.log.Warn("transport: link to the master reset; calls and streams in flight fail", "err", err)
	c.fresh()
	c.up(&Msg{Kind: KindLinkReset, Err: WireError(err)})
	if ping, e := Encode(&Msg{Kind: KindPing}); e == nil {
		c.send(ping)
	}
}

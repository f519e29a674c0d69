package protocol

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Delivery bounds of a link (see the package doc).
const (
	// LinkTimeout is how long a link may hold unacknowledged messages
	// without the peer acknowledging any of them before it is declared
	// broken: everything open over it then fails with ErrUnavailable.
	LinkTimeout = 20 * time.Second
	// LinkMaxUnacked and LinkMaxUnackedBytes bound a link's resend buffer;
	// a link that would hold more is declared broken.
	LinkMaxUnacked      = 1 << 16
	LinkMaxUnackedBytes = 64 << 20

	linkRTO      = 2 * time.Second       // no ack progress this long: resend what is unacked
	linkAckEvery = 32                    // acknowledge at least every this many messages
	linkTick     = 50 * time.Millisecond // acks and timers are checked this often
	linkHdrSize  = 33
)

// Header flags.
const (
	hdrData  = 1 << iota // a sequenced message follows in the next frame
	hdrAck               // acknowledgement only
	hdrNack              // the sender asks for everything unacknowledged again
	hdrReset             // the link is gone: the receiver must start a new one
)

// linkHeader is the frame in front of every message on a link.
//
// Link is the incarnation id the client chose for the link; the server
// echoes it. Server is the server's incarnation id (as known to a client; 0
// when it knows none yet). Seq numbers data messages from 1 per direction
// and incarnation; Ack is the highest sequence number received in order
// from the peer.
type linkHeader struct {
	Flags  byte
	Link   uint64
	Server uint64
	Seq    uint64
	Ack    uint64
}

func (h linkHeader) bytes() []byte {
	b := make([]byte, linkHdrSize)
	b[0] = h.Flags
	binary.BigEndian.PutUint64(b[1:], h.Link)
	binary.BigEndian.PutUint64(b[9:], h.Server)
	binary.BigEndian.PutUint64(b[17:], h.Seq)
	binary.BigEndian.PutUint64(b[25:], h.Ack)
	return b
}

func parseLinkHeader(b []byte) (linkHeader, error) {
	if len(b) != linkHdrSize || b[0] == 0 || b[0]&^(hdrData|hdrAck|hdrNack|hdrReset) != 0 {
		return linkHeader{}, fmt.Errorf("bad link header: %w", ErrInvalid)
	}
	return linkHeader{
		Flags:  b[0],
		Link:   binary.BigEndian.Uint64(b[1:]),
		Server: binary.BigEndian.Uint64(b[9:]),
		Seq:    binary.BigEndian.Uint64(b[17:]),
		Ack:    binary.BigEndian.Uint64(b[25:]),
	}, nil
}

type unacked struct {
	seq  uint64
	data []byte
}

// linkEnd is one end of a link: it numbers what it sends, keeps it until
// the peer acknowledges it, resends it on request, after a reconnection or
// when acknowledgements stop, and delivers what it receives exactly once
// and in order. It is not safe for concurrent use: the socket goroutine
// owns it.
type linkEnd struct {
	out     func(h linkHeader, data []byte) // puts one message on the wire; it may be lost
	deliver func(data []byte)               // hands a message up, in order, once

	link, server uint64 // copied into every header

	// Sending.
	seq        uint64    // last number given
	buf        []unacked // sent, not yet acknowledged, in order
	bufBytes   int
	progress   time.Time // the last ack that freed something, or when buf filled
	lastResend time.Time

	// Receiving.
	recvd   uint64 // highest number received in order
	ackSent uint64 // highest recvd the peer was told of
	ackDue  bool   // a duplicate arrived: the peer may have missed an ack
	nacked  uint64 // the missing number a resend was last asked for
}

// send numbers data, keeps it and puts it on the wire. An error means the
// resend buffer is over its bound: the link must be declared broken.
func (l *linkEnd) send(data []byte, now time.Time) error {
	l.seq++
	if len(l.buf) == 0 {
		l.progress = now
	}
	l.buf = append(l.buf, unacked{l.seq, data})
	l.bufBytes += len(data)
	if len(l.buf) > LinkMaxUnacked || l.bufBytes > LinkMaxUnackedBytes {
		return fmt.Errorf("link resend buffer full (%d messages, %d bytes unacknowledged): %w", len(l.buf), l.bufBytes, ErrUnavailable)
	}
	l.out(linkHeader{Flags: hdrData, Link: l.link, Server: l.server, Seq: l.seq, Ack: l.recvd}, data)
	l.ackSent = l.recvd
	return nil
}

// resend puts everything unacknowledged on the wire again, in order.
func (l *linkEnd) resend(now time.Time) {
	l.lastResend = now
	for _, u := range l.buf {
		l.out(linkHeader{Flags: hdrData, Link: l.link, Server: l.server, Seq: u.seq, Ack: l.recvd}, u.data)
	}
	l.ackSent = l.recvd
}

// sendAck tells the peer what arrived; nack asks it to resend the rest.
func (l *linkEnd) sendAck(nack bool) {
	f := byte(hdrAck)
	if nack {
		f |= hdrNack
	}
	l.out(linkHeader{Flags: f, Link: l.link, Server: l.server, Ack: l.recvd}, nil)
	l.ackSent, l.ackDue = l.recvd, false
}

// receive handles one header (and its message) from the peer.
func (l *linkEnd) receive(h linkHeader, data []byte, now time.Time) {
	if h.Ack > 0 && len(l.buf) > 0 && h.Ack >= l.buf[0].seq && h.Ack <= l.seq {
		n := int(h.Ack - l.buf[0].seq + 1)
		for i := range n {
			l.bufBytes -= len(l.buf[i].data)
			recycleFrame(l.buf[i].data) // acknowledged: never sent again
			l.buf[i] = unacked{}
		}
		l.buf = l.buf[n:]
		if len(l.buf) == 0 {
			l.buf = nil
		}
		l.progress = now
	}
	if h.Flags&hdrNack != 0 && len(l.buf) > 0 {
		l.resend(now)
	}
	if h.Flags&hdrData == 0 {
		return
	}
	switch {
	case h.Seq <= l.recvd: // a duplicate: the peer resent it
		l.ackDue = true
	case h.Seq == l.recvd+1:
		l.recvd++
		l.deliver(data)
		if l.recvd-l.ackSent >= linkAckEvery {
			l.sendAck(false)
		}
	default: // something before it was lost: ask once per gap
		if l.nacked != l.recvd+1 {
			l.nacked = l.recvd + 1
			l.sendAck(true)
		}
	}
}

// tick sends due acknowledgements and resends after linkRTO without
// progress. An error means the peer acknowledged nothing for LinkTimeout:
// the link must be declared broken.
func (l *linkEnd) tick(now time.Time) error {
	if l.recvd > l.ackSent || l.ackDue {
		l.sendAck(false)
	}
	if len(l.buf) == 0 {
		return nil
	}
	if stalled := now.Sub(l.progress); stalled > LinkTimeout {
		return fmt.Errorf("peer acknowledged nothing for %v (%d messages waiting): %w", stalled.Round(time.Second), len(l.buf), ErrUnavailable)
	} else if stalled > linkRTO && now.Sub(l.lastResend) > linkRTO {
		l.resend(now)
	}
	return nil
}

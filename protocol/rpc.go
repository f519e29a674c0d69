package protocol

import (
	"context"
	"fmt"
	"sync"
)

// Calls correlates requests with replies by id. It is safe for concurrent use.
type Calls struct {
	mu      sync.Mutex
	next    uint64
	pending map[uint64]*pendingCall
}

// pendingCall is a request waiting for its reply: a waiter reads ch; once
// the waiter gave up, late (if set) gets the reply instead.
type pendingCall struct {
	ch   chan *Msg
	late func(*Msg)
}

// NewCalls makes an empty correlation table.
func NewCalls() *Calls { return &Calls{pending: map[uint64]*pendingCall{}} }

func (c *Calls) add() (uint64, chan *Msg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	ch := make(chan *Msg, 1)
	c.pending[c.next] = &pendingCall{ch: ch}
	return c.next, ch
}

// abandon is called when a waiter gives up on call id: with late nil the
// call is forgotten, else its reply will go to late. False when the reply
// has already been handed to the waiter's channel.
func (c *Calls) abandon(id uint64, late func(*Msg)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[id]
	if !ok {
		return false
	}
	if late == nil {
		delete(c.pending, id)
	} else {
		p.late = late
	}
	return true
}

func (c *Calls) remove(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Resolve hands a reply to its waiting call; false if nobody waits.
func (c *Calls) Resolve(m *Msg) bool {
	c.mu.Lock()
	p, ok := c.pending[m.ID]
	delete(c.pending, m.ID)
	c.mu.Unlock()
	switch {
	case !ok:
	case p.late != nil:
		go p.late(m)
	default:
		p.ch <- m
	}
	return ok
}

// FailAll answers every pending call with err.
func (c *Calls) FailAll(err error) {
	c.mu.Lock()
	pending := c.pending
	c.pending = map[uint64]*pendingCall{}
	c.mu.Unlock()
	for id, p := range pending {
		m := &Msg{Kind: KindReply, ID: id, Err: WireError(err)}
		if p.late != nil {
			go p.late(m)
		} else {
			p.ch <- m
		}
	}
}

// Call sends request op with body through send (after prep, if not nil,
// adjusts the message) and waits for its reply, decoding it into reply
// (which may be nil). It gives up with ErrTimeout when ctx ends.
func (c *Calls) Call(ctx context.Context, send func(*Msg) error, op string, body, reply any, prep func(*Msg)) error {
	return c.Start(ctx, send, op, body, reply, prep)()
}

// Start sends the request now and returns a function that waits for its
// reply: what follows the request on the wire (a stream) is ordered after it.
func (c *Calls) Start(ctx context.Context, send func(*Msg) error, op string, body, reply any, prep func(*Msg)) func() error {
	return c.StartLate(ctx, send, op, body, reply, prep, nil)
}

// CallLate is Call for a request whose effect must not be lost: when ctx
// ends before the reply, late (if not nil) is later called with the reply
// (or with an error reply if the connection fails), so the caller can undo
// or adopt what the request did. late runs on a goroutine of its own.
func (c *Calls) CallLate(ctx context.Context, send func(*Msg) error, op string, body, reply any, prep func(*Msg), late func(*Msg)) error {
	return c.StartLate(ctx, send, op, body, reply, prep, late)()
}

// StartLate is Start with CallLate's late handler.
func (c *Calls) StartLate(ctx context.Context, send func(*Msg) error, op string, body, reply any, prep func(*Msg), late func(*Msg)) func() error {
	id, ch := c.add()
	m, err := NewRequest(id, op, body)
	if err != nil {
		c.remove(id)
		return func() error { return err }
	}
	if prep != nil {
		prep(m)
	}
	if err := send(m); err != nil {
		c.remove(id)
		return func() error { return fmt.Errorf("%s: %w", op, err) }
	}
	return func() error {
		var r *Msg
		select {
		case r = <-ch:
		case <-ctx.Done():
			if c.abandon(id, late) {
				return fmt.Errorf("%s: %v: %w", op, ctx.Err(), ErrTimeout)
			}
			r = <-ch // the reply beat the deadline: it counts
		}
		if r.Err != nil {
			return r.Err
		}
		if reply != nil && len(r.Body) > 0 {
			return r.DecodeBody(reply)
		}
		return nil
	}
}

// StreamKey names a stream at one endpoint: the scope is the peer or
// session the stream belongs to, so peers cannot reach each other's streams.
type StreamKey struct {
	Scope string
	ID    uint64
}

// Streams routes data and ack messages to the senders and receivers of one
// endpoint. It is safe for concurrent use.
type Streams struct {
	mu        sync.Mutex
	senders   map[StreamKey]*Sender
	receivers map[StreamKey]*Receiver
}

// NewStreams makes an empty stream table.
func NewStreams() *Streams {
	return &Streams{senders: map[StreamKey]*Sender{}, receivers: map[StreamKey]*Receiver{}}
}

// AddSender registers the sending end of stream k.
func (s *Streams) AddSender(k StreamKey, snd *Sender) {
	s.mu.Lock()
	s.senders[k] = snd
	s.mu.Unlock()
}

// AddReceiver registers the receiving end of stream k.
func (s *Streams) AddReceiver(k StreamKey, r *Receiver) {
	s.mu.Lock()
	s.receivers[k] = r
	s.mu.Unlock()
}

// Remove forgets stream k (both ends).
func (s *Streams) Remove(k StreamKey) {
	s.mu.Lock()
	delete(s.senders, k)
	delete(s.receivers, k)
	s.mu.Unlock()
}

// Dispatch delivers a data or ack message of scope; false if the stream is unknown.
func (s *Streams) Dispatch(scope string, m *Msg) bool {
	k := StreamKey{scope, m.Stream}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m.Kind {
	case KindData:
		r, ok := s.receivers[k]
		if ok {
			r.Deliver(m) // the owner removes the stream; a late reader still finds it
		}
		return ok
	case KindAck:
		snd, ok := s.senders[k]
		if ok {
			snd.Ack(m.Seq)
		}
		return ok
	}
	return false
}

// FailScope aborts every stream of scope with err and forgets them.
func (s *Streams) FailScope(scope string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, snd := range s.senders {
		if k.Scope == scope {
			snd.Abort(err)
			delete(s.senders, k)
		}
	}
	for k, r := range s.receivers {
		if k.Scope == scope {
			r.Fail(err)
			delete(s.receivers, k)
		}
	}
}

// FailAll aborts every stream with err and forgets them.
func (s *Streams) FailAll(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, snd := range s.senders {
		snd.Abort(err)
		delete(s.senders, k)
	}
	for k, r := range s.receivers {
		r.Fail(err)
		delete(s.receivers, k)
	}
}

// Receiver returns the receiving end of stream k, or nil.
func (s *Streams) Receiver(k StreamKey) *Receiver {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.receivers[k]
}

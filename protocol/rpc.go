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
	pending map[uint64]chan *Msg
}

// NewCalls makes an empty correlation table.
func NewCalls() *Calls { return &Calls{pending: map[uint64]chan *Msg{}} }

func (c *Calls) add() (uint64, chan *Msg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	ch := make(chan *Msg, 1)
	c.pending[c.next] = ch
	return c.next, ch
}

func (c *Calls) remove(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Resolve hands a reply to its waiting call; false if nobody waits.
func (c *Calls) Resolve(m *Msg) bool {
	c.mu.Lock()
	ch, ok := c.pending[m.ID]
	delete(c.pending, m.ID)
	c.mu.Unlock()
	if ok {
		ch <- m
	}
	return ok
}

// FailAll answers every pending call with err.
func (c *Calls) FailAll(err error) {
	c.mu.Lock()
	pending := c.pending
	c.pending = map[uint64]chan *Msg{}
	c.mu.Unlock()
	for id, ch := range pending {
		ch <- &Msg{Kind: KindReply, ID: id, Err: WireError(err)}
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
		select {
		case r := <-ch:
			if r.Err != nil {
				return r.Err
			}
			if reply != nil && len(r.Body) > 0 {
				return r.DecodeBody(reply)
			}
			return nil
		case <-ctx.Done():
			c.remove(id)
			return fmt.Errorf("%s: %v: %w", op, ctx.Err(), ErrTimeout)
		}
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

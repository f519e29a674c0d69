package protocol

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Stream tuning: a sender may have at most Window chunks of at most
// ChunkSize bytes unacknowledged, so a slow reader bounds what any hop
// buffers for one stream to Window*ChunkSize bytes (4 MiB). Big chunks keep
// the per-message costs (framing, a cgo call per socket operation, an ack,
// link bookkeeping) small per byte; the window covers the round trip
// client–master–node at disk speed.
const (
	ChunkSize = MaxChunkSize
	Window    = 16
)

// AbortSeq in an ack (KindAck) is the receiver's abort: it wants no more
// of the stream. The sender fails its writes at once with ErrAbandoned and
// so frees its window and stops reading its source. Hops in between relay
// it like any ack.
const AbortSeq = ^uint64(0)

// ErrAbandoned is the error a sender's writes fail with once its receiver
// aborted the stream.
// It wraps context.Canceled: the reader cancelled the transfer.
var ErrAbandoned = fmt.Errorf("the reader abandoned the stream: %w", context.Canceled)

// Sender is the writing end of a flow-controlled stream. Write splits data
// into chunks and blocks while Window chunks are unacknowledged.
type Sender struct {
	send     func(*Msg) error
	template Msg

	mu      sync.Mutex
	seq     uint64 // last chunk sent
	acked   uint64 // last chunk acknowledged
	err     error  // set when the stream was aborted
	credit  chan struct{}
	done    chan struct{}
	closing chan struct{} // closed by Close: a blocked writer gives up
	closed  bool
}

// NewSender makes a sender for stream id. template's routing fields
// (Session, Container) are copied into every chunk; send puts one message
// on the wire. Write does not copy its argument: send must be done with
// the message's Data when it returns (Client.Send and Server.Send encode
// the message at once).
func NewSender(id uint64, template Msg, send func(*Msg) error) *Sender {
	template.Kind = KindData
	template.Stream = id
	return &Sender{send: send, template: template, credit: make(chan struct{}, 1), done: make(chan struct{}), closing: make(chan struct{})}
}

// Write sends p as one or more chunks, waiting for credit as needed.
func (s *Sender) Write(p []byte) (int, error) {
	return s.WriteContext(context.Background(), p)
}

// WriteContext is Write that gives up when ctx ends.
func (s *Sender) WriteContext(ctx context.Context, p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > ChunkSize {
			chunk = chunk[:ChunkSize]
		}
		if err := s.waitCredit(ctx); err != nil {
			return n, err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return n, fmt.Errorf("write on closed stream: %w", ErrInvalid)
		}
		s.seq++
		m := s.template
		m.Seq = s.seq
		m.Data = chunk // send encodes it before returning
		s.mu.Unlock()
		if err := s.send(&m); err != nil {
			s.Abort(err)
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

func (s *Sender) waitCredit(ctx context.Context) error {
	for {
		s.mu.Lock()
		err, ok, closed := s.err, s.seq-s.acked < Window, s.closed
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if closed {
			return fmt.Errorf("write on closed stream: %w", ErrInvalid)
		}
		if ok {
			return nil
		}
		select {
		case <-s.credit:
		case <-s.done:
		case <-s.closing:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close sends end-of-stream; err, when not nil, is delivered to the reader.
// A Write blocked waiting for credit then fails at once.
func (s *Sender) Close(err error) error {
	s.mu.Lock()
	if s.closed || s.err != nil {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.seq++
	m := s.template
	m.Seq = s.seq
	m.EOF = true
	m.Err = WireError(err)
	s.mu.Unlock()
	return s.send(&m)
}

// Ack records the receiver's credit message; AbortSeq aborts the stream.
func (s *Sender) Ack(seq uint64) {
	if seq == AbortSeq {
		s.Abort(ErrAbandoned)
		return
	}
	s.mu.Lock()
	if seq > s.acked && seq <= s.seq {
		s.acked = seq
	}
	s.mu.Unlock()
	select {
	case s.credit <- struct{}{}:
	default:
	}
}

// Abort fails pending and future writes with err (the peer went away).
func (s *Sender) Abort(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		close(s.done)
	}
}

// Done is closed when the stream was aborted.
func (s *Sender) Done() <-chan struct{} { return s.done }

// Receiver is the reading end of a flow-controlled stream. Deliver never
// blocks: the sender's window bounds what can queue.
type Receiver struct {
	ack func(seq uint64)

	mu      sync.Mutex
	queue   [][]byte
	next    uint64 // next expected sequence number
	eof     bool
	err     error
	pending uint64 // chunks consumed but not yet acknowledged
	notify  chan struct{}
	cur     []byte
	curSeq  uint64
	aborted bool
}

// NewReceiver makes a receiver; ack sends a credit message for the chunk
// with the given sequence number.
func NewReceiver(ack func(seq uint64)) *Receiver {
	return &Receiver{ack: ack, next: 1, notify: make(chan struct{}, 1)}
}

// Deliver queues a data message that arrived for this stream.
func (r *Receiver) Deliver(m *Msg) {
	r.mu.Lock()
	switch {
	case r.eof || r.err != nil:
	case m.Seq != r.next:
		r.err = fmt.Errorf("stream lost data (chunk %d, expected %d): %w", m.Seq, r.next, ErrUnavailable)
	case len(r.queue) > 2*Window:
		r.err = fmt.Errorf("stream sender ignored flow control: %w", ErrInvalid)
	default:
		r.next++
		if len(m.Data) > 0 {
			r.queue = append(r.queue, m.Data)
		}
		if m.EOF {
			r.eof = true
			if m.Err != nil {
				r.err = m.Err
			}
		}
	}
	r.mu.Unlock()
	r.wake()
}

// Fail ends the stream with err (the peer or session went away).
func (r *Receiver) Fail(err error) {
	r.mu.Lock()
	if r.err == nil && !r.eof {
		r.err = err
	}
	r.mu.Unlock()
	r.wake()
}

// Abort gives up the stream: reads fail with ErrAbandoned from now on and,
// unless the sender already ended it, the sender is told to stop (an ack
// of AbortSeq), also when the stream failed here. It is safe to call more
// than once.
func (r *Receiver) Abort() {
	r.mu.Lock()
	tell := !r.eof && !r.aborted
	r.aborted = true
	if r.err == nil || !r.eof {
		r.err = ErrAbandoned
	}
	r.queue, r.cur = nil, nil
	r.mu.Unlock()
	r.wake()
	if tell {
		r.ack(AbortSeq)
	}
}

func (r *Receiver) wake() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Read blocks until data, end of stream or failure.
func (r *Receiver) Read(p []byte) (int, error) {
	return r.ReadContext(context.Background(), p)
}

// ReadContext is Read that gives up when ctx ends.
func (r *Receiver) ReadContext(ctx context.Context, p []byte) (int, error) {
	for {
		r.mu.Lock()
		if len(r.cur) == 0 && len(r.queue) > 0 {
			r.cur = r.queue[0]
			r.queue[0] = nil
			r.queue = r.queue[1:]
			r.curSeq++
		}
		if len(r.cur) > 0 {
			n := copy(p, r.cur)
			r.cur = r.cur[n:]
			var ackSeq uint64
			if len(r.cur) == 0 {
				ackSeq = r.curSeq
			}
			r.mu.Unlock()
			if ackSeq > 0 {
				r.ack(ackSeq)
			}
			return n, nil
		}
		eof, err := r.eof, r.err
		r.mu.Unlock()
		if err != nil {
			return 0, err
		}
		if eof {
			return 0, io.EOF
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// ReadFrom sends everything r yields in full-size chunks (io.Copy uses it),
// so a stream is not cut into the 32 KiB pieces of io.Copy's buffer. It
// does not end the stream.
func (s *Sender) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, ChunkSize)
	var total int64
	for {
		n, err := r.Read(buf) // one read a chunk: a pipe's output goes out as soon as it is there
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

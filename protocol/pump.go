package protocol

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// outgoing is a message for the socket goroutine. On a server, peer is the
// session name the message goes to (opSend), to forget (opForget) or to
// bind to a key (opBind); on a client it is the client's session name,
// sent as the first frame of every message.
type outgoing struct {
	op   string
	peer string
	data []byte
}

// Operations of queued messages.
const (
	opSend   = "s"
	opForget = "f"
	opBind   = "b" // server: bind the session name peer to the key in data
)

// pump owns one ZeroMQ socket in one goroutine and moves messages between it
// and Go channels. Other goroutines never touch the socket: they queue to
// out and wake the socket goroutine, which waits for its socket in Go's
// network poller (fdwait.go) rather than in a blocking libzmq call: no OS
// thread is held while it waits, and waking it is a deadline change, not a
// message on a pipe. Every wait is bounded by linkTick, so a wake-up that
// went astray costs at most that long.
type pump struct {
	log     *slog.Logger
	out     chan outgoing
	closed  chan struct{}
	done    chan struct{}
	once    sync.Once
	waiting atomic.Bool              // the socket goroutine is (about to be) waiting
	waiter  atomic.Pointer[fdWaiter] // its socket's waiter, once made
	events  chan zmq.Event           // from the monitor reader, for onEvent
}

func newPump(log *slog.Logger) *pump {
	return &pump{
		log:    log,
		out:    make(chan outgoing, sendQueue),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
		events: make(chan zmq.Event, 64),
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
	p.wake()
	return nil
}

// wake ends the socket goroutine's wait if it is waiting.
func (p *pump) wake() {
	if p.waiting.Load() {
		if w := p.waiter.Load(); w != nil {
			w.wake()
		}
	}
}

// close stops the pump and waits for its goroutines: what was queued
// before still goes out.
func (p *pump) close() {
	p.once.Do(func() { close(p.closed) })
	p.wake()
	<-p.done
}

// fail ends the pump from inside (its socket could not be made or waited on).
func (p *pump) fail() { p.once.Do(func() { close(p.closed) }) }

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
// hands queued messages to send (both in this goroutine). monitor, when
// not "", is a socket monitor address whose events a reader goroutine
// passes to onEvent here. tick, when not nil, runs every linkTick for the
// links' timers.
func (p *pump) run(mk socketFunc, send func(sock *zmq.Socket, o outgoing), monitor string, handle func(sock *zmq.Socket, frames [][]byte, userID string), onEvent func(*zmq.Socket, zmq.Event), tick func(*zmq.Socket, time.Time), ready chan<- error) {
	defer close(p.done)
	sock, connect, err := mk()
	if err != nil {
		p.fail()
		ready <- err
		return
	}
	defer sock.Close()
	w, err := newFDWaiter(sock)
	if err != nil {
		p.fail()
		ready <- err
		return
	}
	defer w.close()
	p.waiter.Store(w)
	if monitor != "" {
		stop, err := p.watchMonitor(monitor)
		if err != nil {
			p.fail()
			ready <- err
			return
		}
		// Stop monitoring before the reader goes: libzmq sends monitor
		// events from its I/O thread with a blocking send, so an event
		// with no reader (a disconnect while the socket closes) would
		// wedge that thread and every socket of the process with it.
		defer func() {
			sock.Monitor("", 0)
			stop()
		}()
	}
	if connect != nil {
		if err := connect(); err != nil {
			p.fail()
			ready <- err
			return
		}
	}
	ready <- nil
	lastTick := time.Now()
	fresh := true // nothing received since the last wait
	for {
		if now := time.Now(); tick != nil && now.Sub(lastTick) >= linkTick {
			lastTick = now
			tick(sock, now)
		}
		p.takeEvents(sock, onEvent)
		select {
		case <-p.closed:
			p.drain(sock, send, 0)
			return
		default:
		}
		more := p.drain(sock, send, drainBatch)
		// ZMQ_EVENTS after the sends: they may have consumed the edge
		// that announced a message waiting to be read.
		ev, err := sock.GetEvents()
		if err != nil {
			p.log.Error("transport: socket events", "err", err)
			p.fail()
			return
		}
		if ev&zmq.POLLIN != 0 {
			// The first message after a wait goes up alone: the socket
			// goroutine yields to its consumer, then sends what that
			// queued (a reply, a relayed request) before reading on.
			if fresh {
				fresh = false
				if p.receiveOne(sock, handle) {
					runtime.Gosched()
				}
				continue
			}
			p.receive(sock, handle)
			continue
		}
		if more {
			continue
		}
		// Wait: the deadline is set before waiting is published, so a
		// wake (which moves it into the past) cannot be overwritten.
		if err := w.setDeadline(lastTick.Add(linkTick)); err != nil {
			p.log.Error("transport: wait", "err", err)
			p.fail()
			return
		}
		p.waiting.Store(true)
		fresh = true
		if len(p.out) == 0 && len(p.events) == 0 && !p.isClosed() {
			if err := w.waitSet(); err != nil {
				p.waiting.Store(false)
				p.log.Error("transport: wait", "err", err)
				p.fail()
				return
			}
		}
		p.waiting.Store(false)
	}
}

func (p *pump) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// receive hands every message the socket holds to handle.
func (p *pump) receive(sock *zmq.Socket, handle func(sock *zmq.Socket, frames [][]byte, userID string)) {
	for p.receiveOne(sock, handle) {
	}
}

// receiveOne hands one message to handle; false when there was none.
//
// After the first message of a wake the caller yields: handle readied the
// message's consumer on this P, and without the yield the consumer would
// wait for the socket goroutine's next receive attempt and ZMQ_EVENTS read
// (tens of µs of libzmq work, the largest share of a hop's latency on the
// Go side). Only the first: a busy socket's batch is not slowed by a trip
// through the scheduler for each message.
func (p *pump) receiveOne(sock *zmq.Socket, handle func(sock *zmq.Socket, frames [][]byte, userID string)) bool {
	frames, userID, err := recvWithUser(sock)
	if err != nil {
		return false
	}
	handle(sock, frames, userID)
	return true
}

// takeEvents hands the monitor events that arrived to onEvent.
func (p *pump) takeEvents(sock *zmq.Socket, onEvent func(*zmq.Socket, zmq.Event)) {
	for {
		select {
		case ev := <-p.events:
			if onEvent != nil {
				onEvent(sock, ev)
			}
		default:
			return
		}
	}
}

// watchMonitor starts the goroutine that reads the socket monitor at addr
// (a PAIR socket of its own, waited on in the network poller) and passes
// its events to the socket goroutine. stop ends it and waits.
func (p *pump) watchMonitor(addr string) (stop func(), err error) {
	ready := make(chan error, 1)
	quit := make(chan struct{})
	done := make(chan struct{})
	var wq atomic.Pointer[fdWaiter]
	go func() {
		defer close(done)
		mon, err := zmq.NewSocket(zmq.PAIR)
		if err == nil {
			err = mon.Connect(addr)
		}
		if err != nil {
			if mon != nil {
				mon.Close()
			}
			ready <- err
			return
		}
		defer mon.Close()
		mw, err := newFDWaiter(mon)
		if err != nil {
			ready <- err
			return
		}
		defer mw.close()
		wq.Store(mw)
		ready <- nil
		for {
			select {
			case <-quit:
				return
			default:
			}
			for {
				ev, _, _, err := mon.RecvEvent(zmq.DONTWAIT)
				if err != nil {
					break
				}
				select {
				case p.events <- ev:
				case <-quit:
					return
				}
				p.wake()
			}
			// The reader never stops before stop: without it the monitor's
			// events would wedge libzmq's I/O thread. A wait that fails
			// becomes a pause of linkTick.
			if err := mw.setDeadline(time.Now().Add(linkTick)); err != nil {
				time.Sleep(linkTick)
				continue
			}
			if st, err := mon.GetEvents(); err == nil && st&zmq.POLLIN != 0 {
				continue
			}
			if err := mw.waitSet(); err != nil {
				time.Sleep(linkTick)
			}
		}
	}()
	if err := <-ready; err != nil {
		<-done
		return nil, err
	}
	return func() {
		close(quit)
		if mw := wq.Load(); mw != nil {
			mw.wake()
		}
		<-done
	}, nil
}

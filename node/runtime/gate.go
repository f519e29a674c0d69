package runtime

import (
	"io"
	"sync"
)

// gate holds a process's output back until it is opened: writes are
// kept (up to gateBuffer bytes per writer, then they wait), then go
// through (open(true)) or are discarded (open(false)). Keeping rather
// than blocking matters: containerd waits for the output copiers when a
// start fails, before the gate can be opened.
type gate struct {
	ready   chan struct{}
	once    sync.Once
	pass    bool
	writers []*gatedWriter
}

// gateBuffer bounds what one writer keeps while its gate is closed.
const gateBuffer = 1 << 20

func newGate() *gate { return &gate{ready: make(chan struct{})} }

// open releases the waiting writes; pass says whether they go through.
// Only the first call counts.
func (g *gate) open(pass bool) {
	first := false
	g.once.Do(func() { g.pass = pass; close(g.ready); first = true })
	if first {
		for _, w := range g.writers {
			_ = w.flush() // a failed write shows again on the next one
		}
	}
}

// writer returns w behind the gate (nil stays nil: discarded).
func (g *gate) writer(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	gw := &gatedWriter{g: g, w: w}
	g.writers = append(g.writers, gw)
	return gw
}

type gatedWriter struct {
	g    *gate
	w    io.Writer
	mu   sync.Mutex
	held []byte // written before the gate opened
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.g.ready:
	default:
		if len(w.held)+len(p) <= gateBuffer {
			w.held = append(w.held, p...)
			return len(p), nil
		}
		<-w.g.ready
	}
	if !w.g.pass {
		w.held = nil
		return len(p), nil
	}
	if len(w.held) > 0 {
		held := w.held
		w.held = nil
		if _, err := w.w.Write(held); err != nil {
			return 0, err
		}
	}
	return w.w.Write(p)
}

// flush passes on what was kept, once the gate is open (a process whose
// output fits the buffer may write nothing after the gate opened).
func (w *gatedWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	<-w.g.ready
	held := w.held
	w.held = nil
	if !w.g.pass || len(held) == 0 {
		return nil
	}
	_, err := w.w.Write(held)
	return err
}

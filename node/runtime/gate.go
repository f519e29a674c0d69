package runtime

import (
	"io"
	"sync"
)

// gate holds a process's output back until it is opened: writes wait,
// then go through (open(true)) or are discarded (open(false)).
type gate struct {
	ready chan struct{}
	once  sync.Once
	pass  bool
}

func newGate() *gate { return &gate{ready: make(chan struct{})} }

// open releases the waiting writes; pass says whether they go through.
// Only the first call counts.
func (g *gate) open(pass bool) {
	g.once.Do(func() { g.pass = pass; close(g.ready) })
}

// writer returns w behind the gate (nil stays nil: discarded).
func (g *gate) writer(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return &gatedWriter{g: g, w: w}
}

type gatedWriter struct {
	g *gate
	w io.Writer
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	<-w.g.ready
	if !w.g.pass {
		return len(p), nil
	}
	return w.w.Write(p)
}

package cli

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/term"
)

// Terminal is the local terminal attached to a container's process: raw
// mode while attached, its size and size changes forwarded.
type Terminal struct {
	f     *os.File
	fd    int
	tty   bool
	mu    sync.Mutex
	saved *term.State
}

// OpenTerminal wraps f (normally os.Stdin); a non-terminal f gives a
// Terminal of 80x24 whose raw mode and resizes are no-ops.
func OpenTerminal(f *os.File) (*Terminal, error) {
	if f == nil {
		return nil, fmt.Errorf("-t needs a standard input")
	}
	fd := int(f.Fd())
	return &Terminal{f: f, fd: fd, tty: term.IsTerminal(fd)}, nil
}

// Size is the terminal's width and height (80x24 if unknown).
func (t *Terminal) Size() (uint32, uint32) {
	if t.tty {
		if w, h, err := term.GetSize(t.fd); err == nil && w > 0 && h > 0 {
			return uint32(w), uint32(h)
		}
	}
	return 80, 24
}

// MakeRaw puts the terminal in raw mode: keys, Ctrl-C included, go to the
// container's terminal, whose line discipline signals its foreground
// process. Restore undoes it.
func (t *Terminal) MakeRaw() error {
	if !t.tty {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.saved != nil {
		return nil
	}
	st, err := term.MakeRaw(t.fd)
	if err != nil {
		return fmt.Errorf("terminal raw mode: %w", err)
	}
	t.saved = st
	return nil
}

// Restore gives the terminal back its state from before MakeRaw; it can
// be called any number of times.
func (t *Terminal) Restore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.saved != nil {
		term.Restore(t.fd, t.saved)
		t.saved = nil
	}
}

// WatchResize calls f with the new size on every SIGWINCH until the
// returned stop is called.
func (t *Terminal) WatchResize(f func(w, h uint32)) (stop func()) {
	if !t.tty {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ch:
				f(t.Size())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

package runtime

import (
	"bytes"
	"testing"
)

// Writes before the gate opens are kept, not blocked (containerd waits
// for the copiers when a start fails), then passed on in order when it
// opens, or dropped when it is closed for good.
func TestGateKeepsThenPasses(t *testing.T) {
	var out bytes.Buffer
	g := newGate()
	w := g.writer(&out)
	w.Write([]byte("a"))
	w.Write([]byte("b"))
	if out.Len() != 0 {
		t.Fatal("output passed before the gate opened")
	}
	g.open(true)
	if out.String() != "ab" {
		t.Fatalf("after open: %q", out.String())
	}
	w.Write([]byte("c"))
	if out.String() != "abc" {
		t.Fatalf("after a later write: %q", out.String())
	}

	var dropped bytes.Buffer
	g2 := newGate()
	w2 := g2.writer(&dropped)
	w2.Write([]byte("secret"))
	g2.open(false)
	w2.Write([]byte("more"))
	if dropped.Len() != 0 {
		t.Fatalf("refused process's output passed: %q", dropped.String())
	}
	if g2.writer(nil) != nil {
		t.Fatal("nil writer not kept nil")
	}
}

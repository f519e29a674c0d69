package sshserve

import (
	"bytes"
	"io"
	"testing"
)

// newTestWriter is a writer whose bytes land in out (what PutReader would
// stream into the container).
func newTestWriter(out *bytes.Buffer) *writer {
	pr, pw := io.Pipe()
	w := &writer{pw: pw, pending: map[int64][]byte{}, done: make(chan error, 1)}
	go func() {
		_, err := io.Copy(out, pr)
		w.done <- err
	}()
	return w
}

func TestWriterReorders(t *testing.T) {
	var out bytes.Buffer
	w := newTestWriter(&out)
	for _, c := range []struct {
		off  int64
		data string
	}{{6, "world"}, {0, "hello "}, {11, "!"}} {
		if _, err := w.WriteAt([]byte(c.data), c.off); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil || out.String() != "hello world!" {
		t.Fatalf("got %q, %v", out.String(), err)
	}
}

func TestWriterRefusesRewriteAndGap(t *testing.T) {
	var out bytes.Buffer
	w := newTestWriter(&out)
	w.WriteAt([]byte("abc"), 0)
	if _, err := w.WriteAt([]byte("x"), 1); err == nil {
		t.Fatal("a rewrite was accepted")
	}
	w.Close()
	var out2 bytes.Buffer
	w = newTestWriter(&out2)
	w.WriteAt([]byte("abc"), 5)
	if err := w.Close(); err == nil {
		t.Fatal("a file with a gap closed fine")
	}
}

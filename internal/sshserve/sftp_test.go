package sshserve

import (
	"bytes"
	"io"
	"testing"
)

// newTestWriter is a writer whose streamed bytes land in out (what
// PutReader would stream into the container) and whose ranged writes patch
// out after the stream ended.
func newTestWriter(out *bytes.Buffer) *writer {
	pr, pw := io.Pipe()
	w := &writer{pw: pw, pending: map[int64][]byte{}, done: make(chan error, 1), streaming: true}
	go func() {
		_, err := io.Copy(out, pr)
		w.done <- err
	}()
	w.writeAt = func(p []byte, off int64) error {
		b := out.Bytes()
		if end := int(off) + len(p); end > len(b) {
			b = append(b, make([]byte, end-len(b))...)
		}
		copy(b[off:], p)
		out.Reset()
		out.Write(b)
		return nil
	}
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

// TestWriterRewriteAndGap: a write behind the stream ends it and goes on
// with ranged writes; a gap left at close becomes zeros (a sparse file).
func TestWriterRewriteAndGap(t *testing.T) {
	var out bytes.Buffer
	w := newTestWriter(&out)
	w.WriteAt([]byte("abc"), 0)
	if _, err := w.WriteAt([]byte("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("yz"), 3); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil || out.String() != "axcyz" {
		t.Fatalf("got %q, %v", out.String(), err)
	}
	var out2 bytes.Buffer
	w = newTestWriter(&out2)
	w.WriteAt([]byte("abc"), 5)
	if err := w.Close(); err != nil || out2.String() != "\x00\x00\x00\x00\x00abc" {
		t.Fatalf("got %q, %v", out2.String(), err)
	}
}

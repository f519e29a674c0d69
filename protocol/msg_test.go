package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestCodecRoundTripAndErrors(t *testing.T) {
	m, _ := NewRequest(3, OpSpawn, SpawnRequest{Image: "busybox", Args: []string{"sh"}})
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var sr SpawnRequest
	if err := got.DecodeBody(&sr); err != nil || sr.Image != "busybox" {
		t.Fatalf("body %+v err %v", sr, err)
	}
	r := got.Reply(nil, Errorf(ErrNotFound, "no container %q", "x"))
	b, _ = Encode(r)
	got, _ = Decode(b)
	if !errors.Is(got.Err, ErrNotFound) {
		t.Fatalf("error code lost: %v", got.Err)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":     {},
		"garbage":   []byte("hello world"),
		"kind 0":    mustMarshal(map[int]any{1: 0}),
		"kind 99":   mustMarshal(map[int]any{1: 99}),
		"no op":     mustMarshal(map[int]any{1: 1, 2: 5}),
		"unknown":   mustMarshal(map[int]any{1: 1, 3: "x", 99: 1}),
		"huge":      bytes.Repeat([]byte{0}, MaxMessageSize+4096),
		"deep":      deep(100),
		"big chunk": mustMarshal(map[int]any{1: 4, 8: make([]byte, MaxChunkSize+1)}),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func mustMarshal(v any) []byte {
	b, err := Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func deep(n int) []byte {
	var v any = 1
	for i := 0; i < n; i++ {
		v = []any{v}
	}
	return mustMarshal(map[int]any{1: 1, 3: "x", 5: v})
}

func FuzzDecode(f *testing.F) {
	m, _ := NewRequest(1, OpExec, ExecRequest{Proc: "p", Args: []string{"ls"}})
	b, _ := Encode(m)
	f.Add(b)
	f.Add([]byte{0xa1, 0x01, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		var er ExecRequest
		_ = m.DecodeBody(&er)
		if _, err := Encode(m); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
	})
}

func TestStreamFlowControl(t *testing.T) {
	var recv *Receiver
	var snd *Sender
	sent := make(chan *Msg, 100)
	snd = NewSender(1, Msg{}, func(m *Msg) error { sent <- m; return nil })
	recv = NewReceiver(func(seq uint64) { snd.Ack(seq) })
	data := bytes.Repeat([]byte("abcdefgh"), ChunkSize) // 8 chunks
	go func() {
		for m := range sent {
			recv.Deliver(m)
		}
	}()
	go func() {
		snd.Write(data)
		snd.Write(data)
		snd.Close(nil)
	}()
	got, err := io.ReadAll(recv)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*len(data) {
		t.Fatalf("got %d bytes", len(got))
	}
}

func TestStreamSenderBlocksWithoutAcks(t *testing.T) {
	n := 0
	snd := NewSender(1, Msg{}, func(m *Msg) error { n++; return nil })
	done := make(chan struct{})
	go func() {
		snd.Write(make([]byte, (Window+4)*ChunkSize))
		close(done)
	}()
	snd.Abort(ErrUnavailable)
	<-done
	if n > Window {
		t.Fatalf("sent %d chunks without credit (window %d)", n, Window)
	}
}

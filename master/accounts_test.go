package master

import (
	"errors"
	"testing"

	"github.com/tffs/tffs/protocol"
)

func newTestMaster(t *testing.T, dir string) *Master {
	t.Helper()
	m, err := New(Config{Dir: dir, Listen: "tcp://127.0.0.1:*"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAccountsValidateAndPersist(t *testing.T) {
	dir := t.TempDir()
	m := newTestMaster(t, dir)
	kp, _ := protocol.NewKeyPair()
	nk, _ := protocol.NewKeyPair()
	bad := []struct {
		name, key string
		want      error
	}{
		{"", kp.Public, protocol.ErrInvalid},
		{"../x", kp.Public, protocol.ErrInvalid},
		{"alice", "not-a-key", protocol.ErrInvalid},
		{"alice", kp.Secret + "x", protocol.ErrInvalid},
	}
	for _, c := range bad {
		if err := m.AddAccount(c.name, c.key); !errors.Is(err, c.want) {
			t.Errorf("AddAccount(%q, %q) = %v, want %v", c.name, c.key, err, c.want)
		}
	}
	if len(m.Accounts()) != 0 {
		t.Fatal("a rejected account was stored")
	}
	if err := m.AddAccount("alice", kp.Public); err != nil {
		t.Fatal(err)
	}
	if err := m.AddNode("n1", kp.Public); !errors.Is(err, protocol.ErrExists) {
		t.Fatalf("one key for an account and a node: %v", err)
	}
	if err := m.AddNode("n1", nk.Public); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveAccount("bob"); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("remove unknown: %v", err)
	}
	m.srv.Close()
	m.store.close()

	m = newTestMaster(t, dir) // state survives a restart
	defer func() { m.srv.Close(); m.store.close() }()
	if a := m.Accounts(); len(a) != 1 || a[0].Name != "alice" || a[0].PublicKey != kp.Public {
		t.Fatalf("accounts after restart: %+v", a)
	}
	if n := m.Nodes(); len(n) != 1 || n[0].Name != "n1" {
		t.Fatalf("nodes after restart: %+v", n)
	}
	if m.PublicKey() == "" || !protocol.ValidPublicKey(m.PublicKey()) {
		t.Fatal("master key")
	}
}

func TestImageChecks(t *testing.T) {
	m := newTestMaster(t, t.TempDir())
	defer func() { m.srv.Close(); m.store.close() }()
	save := func(protocol.Image) error { return nil }
	cases := map[string]protocol.Image{
		"no name":          {Config: []byte("{}"), ConfigDigest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
		"wrong digest":     {Name: "x", Config: []byte("{}"), ConfigDigest: "sha256:00"},
		"no layers":        {Name: "x", Config: []byte("{}"), ConfigDigest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
		"missing layer":    {Name: "x", Config: []byte("{}"), ConfigDigest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", Layers: []protocol.Layer{{Digest: "sha256:" + "ab" + string(make([]byte, 0)) + "0000000000000000000000000000000000000000000000000000000000000000"[:62]}}},
		"bad layer digest": {Name: "x", Config: []byte("{}"), ConfigDigest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", Layers: []protocol.Layer{{Digest: "md5:1"}}},
	}
	for name, img := range cases {
		if err := m.checkImage(img, save); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

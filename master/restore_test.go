package master

import (
	"testing"
	"time"
)

func newBenchMaster(b *testing.B) *Master {
	m, err := New(Config{Dir: b.TempDir(), Listen: "tcp://127.0.0.1:*"})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func closeTestMaster(m *Master) {
	m.srv.Close()
	m.store.close()
}

// Sessions and containers (with tags and boot numbers) written to the
// store are what a new master on the same directory starts with; a
// container whose session is not in the store is dropped.
func TestRestoreSessionsAndContainers(t *testing.T) {
	dir := t.TempDir()
	m := newTestMaster(t, dir)
	s := &session{id: "s-1", account: "me", key: "K"}
	m.saveSession(s)
	c := &container{id: "c1", name: "web", session: "s-1", node: "n1", image: "busybox", account: "me", tag: "t",
		state: "exited", exit: 3, boot: 2, exitedBoot: 2}
	m.saveContainer(c)
	m.saveContainer(&container{id: "c2", name: "x", session: "s-gone", node: "n1", state: "running"})
	closeTestMaster(m)

	m = newTestMaster(t, dir)
	defer closeTestMaster(m)
	rs := m.sessions["s-1"]
	if rs == nil || rs.account != "me" || rs.key != "K" || rs.names["web"] != "c1" {
		t.Fatalf("restored session: %+v", rs)
	}
	if time.Since(rs.lastSeen) > time.Minute {
		t.Fatalf("restored session's deadline is not fresh: %v", rs.lastSeen)
	}
	rc := m.containers["c1"]
	if rc == nil || rc.tag != "t" || rc.state != "exited" || rc.exit != 3 || rc.boot != 2 || rc.exitedBoot != 2 || !rc.restored {
		t.Fatalf("restored container: %+v", rc)
	}
	if _, ok := m.containers["c2"]; ok || len(m.containers) != 1 {
		t.Fatalf("a container without its session was restored: %v", m.containers)
	}
}

// BenchmarkSaveContainer is the store's cost on a spawn (one write of the
// container's record; a second follows when the node answers).
func BenchmarkSaveContainer(b *testing.B) {
	m := newBenchMaster(b)
	defer closeTestMaster(m)
	c := &container{id: "c1", name: "web", session: "s-1", node: "n1", image: "busybox", account: "me", state: "starting"}
	for b.Loop() {
		m.saveContainer(c)
	}
}

package protocol

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestWarnLimiterPerPeer(t *testing.T) {
	now := time.Unix(1000, 0)
	w := &WarnLimiter{Burst: 3, Window: time.Minute, now: func() time.Time { return now }}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for i := 0; i < 100; i++ {
		w.Warn(log, "a", "dropped malformed message")
	}
	if n := strings.Count(buf.String(), "dropped malformed message"); n != 3 {
		t.Fatalf("peer a logged %d warnings in one window, want 3", n)
	}
	// Another peer has its own allowance.
	w.Warn(log, "b", "dropped malformed message from b")
	if !strings.Contains(buf.String(), "from b") {
		t.Fatal("peer b was silenced by peer a")
	}
	// A new window: a's next warning says how many were suppressed.
	now = now.Add(time.Minute)
	buf.Reset()
	w.Warn(log, "a", "again")
	if !strings.Contains(buf.String(), "suppressed=97") {
		t.Fatalf("want the suppressed count in %q", buf.String())
	}
}

func TestWarnLimiterBoundsItsMemory(t *testing.T) {
	w := &WarnLimiter{}
	for i := 0; i < 3*maxWarnPeers; i++ {
		w.Allow(string(rune(i)) + "peer")
	}
	if len(w.peers) > maxWarnPeers {
		t.Fatalf("%d peers remembered, bound is %d", len(w.peers), maxWarnPeers)
	}
}

package protocol

import (
	"log/slog"
	"sync"
	"time"
)

// WarnLimiter rate-limits warnings per peer, so a peer that sends malformed
// messages in a loop cannot flood the log: each peer gets Burst warnings per
// Window; the rest are counted and reported with the peer's next warning.
type WarnLimiter struct {
	Burst  int           // warnings per peer per window (default 5)
	Window time.Duration // default one minute
	now    func() time.Time

	mu    sync.Mutex
	peers map[string]*warnCount
}

type warnCount struct {
	start      time.Time
	n          int
	suppressed int
}

// maxWarnPeers bounds the limiter's memory; past it, old windows are forgotten.
const maxWarnPeers = 4096

// Allow reports whether a warning about peer may be logged now, and how many
// of its warnings were suppressed since the last one logged.
func (w *WarnLimiter) Allow(peer string) (ok bool, suppressed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if w.now != nil {
		now = w.now()
	}
	burst, window := w.Burst, w.Window
	if burst <= 0 {
		burst = 5
	}
	if window <= 0 {
		window = time.Minute
	}
	if w.peers == nil {
		w.peers = map[string]*warnCount{}
	}
	c := w.peers[peer]
	if c == nil {
		if len(w.peers) >= maxWarnPeers {
			for p, old := range w.peers {
				if now.Sub(old.start) >= window {
					delete(w.peers, p)
				}
			}
			if len(w.peers) >= maxWarnPeers {
				w.peers = map[string]*warnCount{}
			}
		}
		c = &warnCount{start: now}
		w.peers[peer] = c
	}
	if now.Sub(c.start) >= window {
		c.start, c.n = now, 0
	}
	if c.n >= burst {
		c.suppressed++
		return false, 0
	}
	c.n++
	suppressed, c.suppressed = c.suppressed, 0
	return true, suppressed
}

// Warn logs msg at warning level unless peer has used up its warnings.
func (w *WarnLimiter) Warn(log *slog.Logger, peer, msg string, args ...any) {
	ok, suppressed := w.Allow(peer)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	log.Warn(msg, args...)
}

// ShortKey abbreviates a public key for logs.
func ShortKey(key string) string {
	if len(key) > 8 {
		return key[:8] + "…"
	}
	return key
}

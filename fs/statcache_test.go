package fs

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/sdk"
)

// clockCache is a statCache on a clock the test moves.
func clockCache() (*statCache, *time.Time) {
	now := time.Unix(1000, 0)
	return &statCache{now: func() time.Time { return now }}, &now
}

func file(name string, size int64) sdk.FileInfo {
	return sdk.FileInfo{Name: name, Size: size, Mode: 0o644}
}

// state is what get answers for p: "miss" (unknown), "gone" (known
// missing) or "have".
func state(s *statCache, p string) string {
	_, missing, ok := s.get(p)
	switch {
	case !ok:
		return "miss"
	case missing:
		return "gone"
	}
	return "have"
}

func expect(t *testing.T, s *statCache, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if got := state(s, p); got != w {
			t.Errorf("%s: %s, want %s", p, got, w)
		}
	}
}

func TestStatCacheListingIsComplete(t *testing.T) {
	s, now := clockCache()
	s.listed("/d", []sdk.FileInfo{file("a", 1), file("/d/b", 2)}, s.version())
	expect(t, s, map[string]string{"/d/a": "have", "/d/b": "have", "/d/c": "gone",
		"/d/" + strings.Repeat("n", 256): "miss",
		"/d":                             "miss", "/e/a": "miss", "/d/a/x": "miss"})
	if fi, _, _ := s.get("/d/b"); fi.Size != 2 {
		t.Errorf("/d/b size %d, want 2", fi.Size)
	}
	*now = now.Add(statTTL + time.Millisecond)
	expect(t, s, map[string]string{"/d/a": "miss", "/d/c": "miss"})
}

func TestStatCacheChangesKeepListingTrue(t *testing.T) {
	s, _ := clockCache()
	s.listed("/d", []sdk.FileInfo{file("a", 1), file("b", 2), file("sub", 0)}, s.version())
	s.listed("/d/sub", []sdk.FileInfo{file("x", 1)}, s.version())
	s.put("/d", sdk.FileInfo{Name: "d"})

	s.made("/d/new", file("new", 0))
	expect(t, s, map[string]string{"/d/new": "have", "/d": "miss", "/d/other": "gone"})
	s.made("/d/mk", sdk.FileInfo{Name: "mk", Mode: uint32(os.ModeDir | 0o755)})
	expect(t, s, map[string]string{"/d/mk": "have", "/d/mk/x": "gone"})
	s.made("/d/mk/x", file("x", 0))
	expect(t, s, map[string]string{"/d/mk/x": "have", "/d/mk/y": "gone"})

	s.removed("/d/a")
	expect(t, s, map[string]string{"/d/a": "gone"})

	s.drop("/d/b") // a write: the name stays, its information is asked again
	expect(t, s, map[string]string{"/d/b": "miss", "/d/zz": "gone"})

	s.renamed("/d/sub", "/d/sub2")
	expect(t, s, map[string]string{"/d/sub": "gone", "/d/sub/x": "miss", "/d/sub2": "miss",
		"/d/sub2/x": "miss", "/d/zz": "gone"})

	s.renamed("/d/new", "/e/new") // into a directory not listed
	expect(t, s, map[string]string{"/d/new": "gone", "/e/new": "miss"})

	s.unknown("/d/q") // a change failed: the listing no longer counts
	expect(t, s, map[string]string{"/d/q": "miss", "/d/zz": "miss", "/d/a": "gone"})

	s.reset()
	expect(t, s, map[string]string{"/d/a": "miss"})
}

func TestStatCacheMissingAndPut(t *testing.T) {
	s, now := clockCache()
	s.putMissing("/x")
	s.put("/y", file("y", 3))
	expect(t, s, map[string]string{"/x": "gone", "/y": "have", "/": "miss"})
	s.made("/x", file("x", 0))
	expect(t, s, map[string]string{"/x": "have"})
	*now = now.Add(2 * statTTL)
	expect(t, s, map[string]string{"/x": "miss", "/y": "miss"})
}

func TestStatCacheBounded(t *testing.T) {
	s, now := clockCache()
	for i := range maxCached {
		s.put("/f"+string(rune('a'+i%26))+time.Duration(i).String(), file("f", 0))
	}
	*now = now.Add(2 * statTTL)
	s.put("/last", file("last", 0))
	if n := len(s.m); n != 1 {
		t.Errorf("%d entries after the expired ones were dropped, want 1", n)
	}
}

func TestStatCacheOtherNames(t *testing.T) {
	s, _ := clockCache()
	linked := sdk.FileInfo{Name: "f", Mode: 0o644, Full: true, Ino: 7, Nlink: 2}
	s.put("/d/f", linked)
	s.put("/e/l", linked)
	s.put("/d/g", sdk.FileInfo{Name: "g", Mode: 0o644, Full: true, Ino: 8, Nlink: 1})
	if got := s.otherNames("/d/g"); got != nil {
		t.Errorf("other names of a file with one link: %v", got)
	}
	got := s.otherNames("/e/l")
	if len(got) != 1 || got[0] != "/d/f" {
		t.Errorf("other names of /e/l: %v, want [/d/f]", got)
	}
	expect(t, s, map[string]string{"/d/f": "miss", "/e/l": "have", "/d/g": "have"})
}

func TestStatCacheRelist(t *testing.T) {
	s, now := clockCache()
	if s.relist("/d") {
		t.Error("a directory never listed is listed again")
	}
	s.listed("/d", []sdk.FileInfo{file("a", 1)}, s.version())
	if s.relist("/d") {
		t.Error("a fresh listing is listed again")
	}
	*now = now.Add(2 * statTTL)
	if !s.relist("/d") {
		t.Error("a stale listing is not listed again")
	}
	s.removed("/d")
	if s.relist("/d") {
		t.Error("a removed directory is listed again")
	}
}

func TestStatCacheListingRacingAChange(t *testing.T) {
	s, _ := clockCache()
	since := s.version()
	s.made("/d/new", file("new", 0)) // made while the listing was fetched
	s.listed("/d", []sdk.FileInfo{file("a", 1)}, since)
	expect(t, s, map[string]string{"/d/new": "have", "/d/a": "miss", "/d/zz": "miss"})
	if s.relist("/d") {
		t.Error("a directory whose listing raced a change is listed again")
	}
}

func TestStatCacheListingRacingAWrite(t *testing.T) {
	s, _ := clockCache()
	since := s.version()
	s.written("/d/a") // a write reached the node while the listing was fetched
	s.listed("/d", []sdk.FileInfo{file("a", 1), {Name: "sub", Mode: uint32(os.ModeDir | 0o755)}}, since)
	// The names are right; a's size may be from before the write.
	expect(t, s, map[string]string{"/d/a": "miss", "/d/sub": "have", "/d/zz": "gone"})
}

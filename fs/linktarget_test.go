package fs

import (
	"math/rand"
	"path"
	"strings"
	"testing"
)

func TestShownTarget(t *testing.T) {
	for _, c := range []struct{ link, resolved, want string }{
		{"/esc", "/etc/hostname", "etc/hostname"},
		{"/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/up", "/", "../../../../../../../../../.."},
		{"/tmp/out", "/etc", "../etc"},
		{"/l", "/x", "x"},
		{"/l", "/", "."},
		{"/a/b/l", "/", "../.."},
		{"/a/b/l", "/a/b/c", "c"},
		{"/a/b/l", "/a/b", "."},
		{"/a/b/l", "/a", ".."},
		{"/a/b/l", "/a/c/d", "../c/d"},
		{"/a/l", "/a/z", "z"},
		{"/bin/sh", "/bin/busybox", "busybox"},
		{"/loop", "", "loop"},
		{"/a/b/loop", "", "loop"},
		// Whatever the node sends is cleaned as an absolute path.
		{"/a/l", "../../../../etc/passwd", "../etc/passwd"},
		{"/a/l", "/../../home/u/.ssh/id", "../home/u/.ssh/id"},
		{"/a/l", "x/./../../y//", "../y"},
		{"a/./b/../l", "/z", "../z"},
		{"/a/long", "/" + strings.Repeat("x/", 2100), "long"},
	} {
		if got := shownTarget(c.link, c.resolved); got != c.want {
			t.Errorf("shownTarget(%q, %q) = %q, want %q", c.link, c.resolved, got, c.want)
		}
	}
}

// TestShownTargetStaysInside walks shown targets of random links and
// random (also hostile) resolutions the way the kernel does, from the
// link's directory: no step may climb above files/.
func TestShownTargetStaysInside(t *testing.T) {
	parts := []string{"a", "b", "..", ".", "", "etc", "...", "..a"}
	randPath := func(r *rand.Rand) string {
		var b strings.Builder
		if r.Intn(2) == 0 {
			b.WriteString("/")
		}
		for range r.Intn(8) {
			b.WriteString(parts[r.Intn(len(parts))] + "/")
		}
		return b.String() + parts[r.Intn(len(parts))]
	}
	r := rand.New(rand.NewSource(1))
	for range 20000 {
		link := path.Clean("/" + randPath(r))
		if link == "/" {
			continue
		}
		resolved := randPath(r)
		shown := shownTarget(link, resolved)
		if path.IsAbs(shown) {
			t.Fatalf("shownTarget(%q, %q) = %q is absolute", link, resolved, shown)
		}
		dir := strings.Split(strings.Trim(path.Dir(link), "/"), "/")
		if dir[0] == "" {
			dir = nil
		}
		for _, c := range strings.Split(shown, "/") {
			switch c {
			case "", ".":
			case "..":
				if len(dir) == 0 {
					t.Fatalf("shownTarget(%q, %q) = %q climbs out of files/", link, resolved, shown)
				}
				dir = dir[:len(dir)-1]
			default:
				dir = append(dir, c)
			}
		}
		if want := strings.TrimPrefix(path.Clean("/"+resolved), "/"); resolved != "" && strings.Join(dir, "/") != want {
			t.Fatalf("shownTarget(%q, %q) = %q leads to %q, want %q", link, resolved, shown, strings.Join(dir, "/"), want)
		}
	}
}

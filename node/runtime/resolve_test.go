package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// resolveTree builds a tree of links under a temporary directory and
// returns it opened as a root.
func resolveTree(t *testing.T) *os.File {
	t.Helper()
	dir := t.TempDir()
	deep := "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10"
	for _, d := range []string{"a/b/c", "etc", deep} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/b/c/f", "etc/hostname"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"abs":          "/a/b",
		"rel":          "a/b/c/f",
		deep + "/up":   "../../../../../../../../../..",
		"esc":          deep + "/up/../../../../../../../../../../etc/hostname",
		"loop1":        "loop2",
		"loop2":        "loop1",
		"self":         "self",
		"dangling":     "/nonexist/x/../y",
		"fileparent":   "a/b/c/f/x",
		"rootlink":     "/",
		"dotdot":       "../../..",
		"a/b/up2":      "../..",
		"a/b/sib":      "../b/c",
		"x":            "a/b/c",
		"y":            "x/../../b",
		"c1":           "c2",
		"c2":           "/a/b/c",
		"c3":           "c1/f",
		"m":            "/proc/self/root",
		"a/b/c/home":   "../../../../../../../../root/.ssh",
		"a/b/c/viaup":  "../up2/a/b/c/f",
		"a/b/c/empty":  ".",
		"a/b/c/abs2":   "//a//./b/../b/c/",
		"a/b/c/hopdir": "/abs/c",
		"tl1":          strings.Repeat("q/", 1500),
		"tl2":          "tl1/" + strings.Repeat("z/", 1500),
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	// A chain of 41 links is one too many; of 40 it resolves.
	for i := range 41 {
		os.Symlink(fmt.Sprintf("long%d", i+1), filepath.Join(dir, fmt.Sprintf("long%d", i)))
	}
	os.WriteFile(filepath.Join(dir, "long41"), nil, 0o644)
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func TestResolveIn(t *testing.T) {
	root := resolveTree(t)
	deep := "/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10"
	for _, c := range []struct {
		p, want string
		err     error
	}{
		{"/", "/", nil},
		{"/abs", "/a/b", nil},
		{"/rel", "/a/b/c/f", nil},
		{deep + "/up", "/", nil},
		{"/esc", "/etc/hostname", nil},
		{"/loop1", "", unix.ELOOP},
		{"/self", "", unix.ELOOP},
		{"/dangling", "/nonexist/y", unix.ENOENT},
		{"/fileparent", "/a/b/c/f/x", unix.ENOTDIR},
		{"/rootlink", "/", nil},
		{"/dotdot", "/", nil},
		{"/a/b/up2", "/", nil},
		{"/a/b/sib", "/a/b/c", nil},
		{"/y", "/a/b", nil},
		{"/c3", "/a/b/c/f", nil},
		{"/m", "/proc/self/root", unix.ENOENT},
		{"/a/b/c/home", "/root/.ssh", unix.ENOENT},
		{"/a/b/c/viaup", "/a/b/c/f", nil},
		{"/a/b/c/empty", "/a/b/c", nil},
		{"/a/b/c/abs2", "/a/b/c", nil},
		{"/a/b/c/hopdir", "/a/b/c", nil},
		{"/abs/c/hopdir/f", "/a/b/c/f", nil},
		{"/../../a/./b/../b", "/a/b", nil},
		{"/long1", "/long41", nil},
		{"/long0", "", unix.ELOOP},
		{"/tl1", "/" + strings.Repeat("q/", 1499) + "q", unix.ENOENT},
	} {
		got, err := resolveIn(root, c.p)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("resolveIn(%s) = %q, %v; want %q, %v", c.p, got, err, c.want, c.err)
		}
		if c.err == unix.ELOOP {
			c.want = ""
		}
		if lt := linkTarget(root, c.p); lt != c.want {
			t.Errorf("linkTarget(%s) = %q, want %q", c.p, lt, c.want)
		}
	}
}

// TestLinkTargetTooLong: a chain that would lead to a path longer than
// PATH_MAX gives "" (the mount shows it as a loop).
func TestLinkTargetTooLong(t *testing.T) {
	root := resolveTree(t)
	if got := linkTarget(root, "/tl2"); got != "" {
		t.Fatalf("linkTarget(/tl2) = %d bytes, want \"\"", len(got))
	}
}

// TestResolveNoHandlesLeft checks a resolution closes what it opened.
func TestResolveNoHandlesLeft(t *testing.T) {
	root := resolveTree(t)
	count := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	before := count()
	for range 20 {
		for _, p := range []string{"/esc", "/loop1", "/dangling", "/fileparent", "/long0", "/a/b/c/viaup"} {
			resolveIn(root, p)
		}
	}
	if after := count(); after > before+2 {
		t.Fatalf("open handles %d → %d", before, after)
	}
}

// linkChecks plants links with the container's own tools (or in its
// mounted root) and checks Stat and List give where they lead inside it.
func linkChecks(t *testing.T, c *Container) {
	ctx := tctx(t)
	deep := "/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10"
	if err := c.Mkdir(ctx, deep, 0o755); err != nil {
		t.Fatal(err)
	}
	links := []struct{ link, target, want string }{
		{deep + "/up", "../../../../../../../../../..", "/"},
		{"/esc", strings.TrimPrefix(deep, "/") + "/up/../../../../../../../../../../etc/passwd", "/etc/passwd"},
		// Running, /proc/1/root is a magic link whose text depends on the
		// node's mount namespace; any clean absolute path is right.
		{"/toroot", "/proc/1/root", "*"},
		{"/loop", "loop", ""},
		{"/etc/dangling", "../../nonexist/../gone", "/gone"},
	}
	for _, l := range links {
		if err := symlinkIn(t, c, l.link, l.target); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range links {
		fi, err := c.Stat(ctx, l.link)
		if l.want == "*" && strings.HasPrefix(fi.Resolved, "/") && filepath.Clean(fi.Resolved) == fi.Resolved {
			t.Logf("stat %s: resolved %q", l.link, fi.Resolved)
			continue
		}
		if err != nil || fi.Link != l.target || fi.Resolved != l.want {
			t.Errorf("stat %s: link %q resolved %q (%v); want %q", l.link, fi.Link, fi.Resolved, err, l.want)
		}
	}
	list, err := c.List(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, fi := range list {
		switch fi.Name {
		case "esc":
			seen++
			if fi.Resolved != "/etc/passwd" {
				t.Errorf("list: esc resolved %q", fi.Resolved)
			}
		case "loop":
			seen++
			if fi.Resolved != "" {
				t.Errorf("list: loop resolved %q", fi.Resolved)
			}
		case "etc":
			seen++
			if fi.Resolved != "" {
				t.Errorf("list: a directory has Resolved %q", fi.Resolved)
			}
		}
	}
	if seen != 3 {
		t.Errorf("list of /: %+v", list)
	}
}

func TestLinkTargetStopped(t *testing.T) {
	r := env(t)
	linkChecks(t, create(t, r, Spec{ID: "links-stopped"}))
}

func TestLinkTargetRunning(t *testing.T) {
	r := env(t)
	c := create(t, r, Spec{ID: "links-running", Asleep: true})
	if err := c.Start(tctx(t), nil, nil); err != nil {
		t.Fatal(err)
	}
	linkChecks(t, c)
}

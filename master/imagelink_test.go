package master

import (
	"archive/tar"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tffs/tffs/protocol"
)

// TestImageLinkTarget resolves an image's symlinks inside its merged tree,
// as a container would: listings carry where each link leads.
func TestImageLinkTarget(t *testing.T) {
	dir := t.TempDir()
	deep := "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10"
	writeLayer(t, dir, "l1", false,
		tarEnt{name: "etc/hostname", body: "img", flag: tar.TypeReg},
		tarEnt{name: "a/b/c/f", body: "f", flag: tar.TypeReg},
		tarEnt{name: deep + "/up", link: "../../../../../../../../../..", flag: tar.TypeSymlink},
		tarEnt{name: "esc", link: deep + "/up/../../../../../../../../../../etc/hostname", flag: tar.TypeSymlink},
		tarEnt{name: "abs", link: "/tmp/canary/secret", flag: tar.TypeSymlink},
		tarEnt{name: "loop1", link: "loop2", flag: tar.TypeSymlink},
		tarEnt{name: "loop2", link: "/loop1", flag: tar.TypeSymlink},
		tarEnt{name: "x", link: "a/b/c", flag: tar.TypeSymlink},
		tarEnt{name: "y", link: "x/../../b", flag: tar.TypeSymlink},
		tarEnt{name: "a/b/c/viaup", link: "../../../x/f", flag: tar.TypeSymlink},
		tarEnt{name: "a/b/c/notdir", link: "f/../../c", flag: tar.TypeSymlink},
		tarEnt{name: "a/b/c/root", link: "../../..", flag: tar.TypeSymlink},
	)
	tree, err := buildTree(func(d string) string { return filepath.Join(dir, d) }, []protocol.Layer{{Digest: "l1"}}, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ p, want string }{
		{"/" + deep + "/up", "/"},
		{"/esc", "/etc/hostname"},
		{"/abs", "/tmp/canary/secret"},
		{"/loop1", ""},
		{"/x", "/a/b/c"},
		{"/y", "/a/b"},
		{"/a/b/c/viaup", "/a/b/c/f"},
		{"/a/b/c/notdir", "/a/b/c"},
		{"/a/b/c/root", "/"},
	} {
		if got := tree.linkTarget(c.p); got != c.want {
			t.Errorf("linkTarget(%s) = %q, want %q", c.p, got, c.want)
		}
	}
	// A listing reached through a link names the entries by the path asked
	// and resolves them from where they are.
	list, err := tree.list("/x")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, fi := range list {
		got[fi.Name] = fi.Resolved
	}
	if got["/x/viaup"] != "/a/b/c/f" || got["/x/root"] != "/" || got["/x/f"] != "" {
		t.Fatalf("list /x: %v", got)
	}
}

// TestImageLinkTargetTooLong: a dangling chain whose path would pass
// PATH_MAX resolves to "" (shown as a loop), never to a longer path.
func TestImageLinkTargetTooLong(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x/", 1500)
	writeLayer(t, dir, "l1", false,
		tarEnt{name: "a", link: long + "b", flag: tar.TypeSymlink},
		tarEnt{name: "c", link: "/a/" + long, flag: tar.TypeSymlink},
		tarEnt{name: "huge", link: strings.Repeat("h/", 1<<16), flag: tar.TypeSymlink},
	)
	tree, err := buildTree(func(d string) string { return filepath.Join(dir, d) }, []protocol.Layer{{Digest: "l1"}}, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got := tree.linkTarget("/a"); got != "/"+long+"b" {
		t.Errorf("linkTarget(/a) = %d bytes", len(got))
	}
	if got := tree.linkTarget("/huge"); got != "" {
		t.Errorf("linkTarget(/huge) = %d bytes, want \"\"", len(got))
	}
	if got := tree.linkTarget("/c"); got != "" {
		t.Errorf("linkTarget(/c) = %d bytes, want \"\"", len(got))
	}
}

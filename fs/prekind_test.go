package fs

import "testing"

// Two names of one pre-boot entry are hard links: the link count counts
// them, and the spool goes only with the last name.
func TestPreEntryLinks(t *testing.T) {
	c := &ctr{pre: map[string]*preEntry{}}
	e := &preEntry{kind: preKindFile}
	if err := e.body.writeAt([]byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	defer e.body.close()
	c.pre["/a"], c.pre["/b"] = e, e
	c.pre["/l1"] = &preEntry{kind: preKindImageLink, target: "/etc/passwd"}
	c.pre["/l2"] = &preEntry{kind: preKindImageLink, target: "/etc/passwd"}
	if n := c.linksLocked("/a", e); n != 2 {
		t.Fatalf("links of a file with two names: %d", n)
	}
	if n := c.linksLocked("/etc/passwd", nil); n != 2 {
		t.Fatalf("image links to /etc/passwd: %d", n)
	}
	if !c.imageLinkedLocked("/etc/passwd") || c.imageLinkedLocked("/etc/group") {
		t.Fatal("imageLinkedLocked is wrong")
	}
	c.dropLocked("/a")
	if e.body.f == nil {
		t.Fatal("the spool was closed while a name was left")
	}
	if n := c.linksLocked("/b", e); n != 1 {
		t.Fatalf("links after a remove: %d", n)
	}
	c.dropLocked("/b")
	if e.body.f != nil {
		t.Fatal("the spool outlived the last name")
	}
	c.dropLocked("/nothing") // no entry: nothing happens
	if len(c.pre) != 2 {
		t.Fatalf("entries left: %d", len(c.pre))
	}
}

// Each kind shows as its file type.
func TestPreKindTypes(t *testing.T) {
	for _, tc := range []struct {
		k    preKind
		want string
	}{
		{preKindFile, "-"}, {preKindDir, "d"}, {preKindSymlink, "L"}, {preKindFIFO, "p"}, {preKindSocket, "S"}, {preKindImageLink, "-"},
	} {
		if got := tc.k.fileMode().String()[:1]; got != tc.want {
			t.Errorf("kind %d: mode %q, want %q", tc.k, got, tc.want)
		}
	}
}

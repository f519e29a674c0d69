package dirsync

import "testing"

func TestParse(t *testing.T) {
	l, r, err := Parse("./src:/app/src/")
	if err != nil || l != "./src" || r != "/app/src" {
		t.Fatalf("Parse = %q %q %v", l, r, err)
	}
	for _, bad := range []string{"src", ":/app", "src:app", "src:"} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

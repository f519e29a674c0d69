package fs

import (
	"syscall"
	"testing"

	"bazil.org/fuse"
)

func TestErrnoOfReason(t *testing.T) {
	if got := errno(failf(syscall.EINVAL, "x")); got != fuse.Errno(syscall.EINVAL) {
		t.Fatalf("got %v", got)
	}
}

func TestSplitCommand(t *testing.T) {
	got, err := splitCommand(`sh -c "echo \"hi\" \$X" 'a b'\ c`)
	if err != nil || len(got) != 4 || got[2] != `echo "hi" $X` || got[3] != "a bc" && got[3] != "a b c" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestInsideTarget(t *testing.T) {
	for _, c := range [][3]string{{"/tmp/out", "/../../etc", "../etc"}, {"/l", "/x", "x"}, {"/a/b/l", "../../../y", "../../y"}, {"/a/l", "z", "z"}} {
		if got := insideTarget(c[0], c[1]); got != c[2] {
			t.Errorf("insideTarget(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

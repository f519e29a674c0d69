package filekind

import (
	"os"
	"testing"
)

func TestOf(t *testing.T) {
	for m, want := range map[os.FileMode]string{
		os.ModeDir | 0o755:                "a directory",
		os.ModeSymlink:                    "a symbolic link",
		os.ModeDevice | os.ModeCharDevice: "a character device",
		os.ModeDevice:                     "a block device",
		os.ModeNamedPipe:                  "a FIFO",
		os.ModeSocket:                     "a socket",
		0o644:                             "a regular file",
		os.ModeIrregular:                  "not a regular file",
	} {
		if got := Of(m); got != want {
			t.Errorf("Of(%v) = %q, want %q", m, got, want)
		}
	}
}

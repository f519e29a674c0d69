package fs

import (
	"os"
	"testing"

	"bazil.org/fuse"
)

func TestDirentTypeOfEveryMode(t *testing.T) {
	for _, c := range []struct {
		m    os.FileMode
		want fuse.DirentType
	}{
		{0o644, fuse.DT_File},
		{os.ModeDir | 0o755, fuse.DT_Dir},
		{os.ModeSymlink | 0o777, fuse.DT_Link},
		{os.ModeNamedPipe | 0o644, fuse.DT_FIFO},
		{os.ModeSocket | 0o755, fuse.DT_Socket},
		{os.ModeDevice | os.ModeCharDevice | 0o666, fuse.DT_Char},
		{os.ModeDevice | 0o660, fuse.DT_Block},
	} {
		if got := direntType(c.m); got != c.want {
			t.Errorf("direntType(%v) = %v, want %v", c.m, got, c.want)
		}
	}
	if got := preKindFIFO.direntType(); got != fuse.DT_FIFO {
		t.Errorf("a pre-boot FIFO's entry type = %v", got)
	}
}

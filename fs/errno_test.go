package fs

import (
	"fmt"
	"syscall"
	"testing"

	"bazil.org/fuse"

	"github.com/tffs/tffs/protocol"
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

// TestErrnoOfWireErrors checks that errors as the SDK returns them (wire
// codes turned back into sentinels) become the errno a shell expects.
func TestErrnoOfWireErrors(t *testing.T) {
	for _, c := range []struct {
		code protocol.Code
		want syscall.Errno
	}{
		{protocol.CodeNotFound, syscall.ENOENT},
		{protocol.CodeExists, syscall.EEXIST},
		{protocol.CodeBusy, syscall.EBUSY},
		{protocol.CodeInvalid, syscall.EINVAL},
		{protocol.CodePermission, syscall.EACCES},
		{protocol.CodeNotEmpty, syscall.ENOTEMPTY},
		{protocol.CodeNotDir, syscall.ENOTDIR},
		{protocol.CodeIsDir, syscall.EISDIR},
		{protocol.CodeLimit, syscall.EDQUOT},
		{protocol.CodeNoSpace, syscall.ENOSPC},
		{protocol.CodeInternal, syscall.EIO},
		{protocol.CodeUnavailable, syscall.EIO},
	} {
		err := fmt.Errorf("put /x: %w", &protocol.Error{Code: c.code, Message: "reason"})
		if got := errno(err); got != fuse.Errno(c.want) {
			t.Errorf("%s: got %v, want %v", c.code, got, c.want)
		}
	}
}

package node

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/tffs/tffs/protocol"
)

// A full disk is ErrNoSpace on the wire, whether the errno reached the
// node (its own writes) or only its text did (containerd's gRPC errors).
func TestWireErrNoSpace(t *testing.T) {
	for _, err := range []error{
		&os.PathError{Op: "write", Path: "/big", Err: syscall.ENOSPC},
		fmt.Errorf("put /x: %w", syscall.EDQUOT),
		errors.New("write blob: failed to copy: rpc error: code = Unknown desc = write /root/ingest/data: no space left on device"),
	} {
		we := protocol.WireError(wireErr(err))
		if we.Code != protocol.CodeNoSpace || !errors.Is(we, protocol.ErrNoSpace) {
			t.Errorf("%v: code %s, want %s", err, we.Code, protocol.CodeNoSpace)
		}
	}
	if we := protocol.WireError(wireErr(syscall.EIO)); we.Code != protocol.CodeInternal {
		t.Errorf("EIO: code %s, want internal", we.Code)
	}
}

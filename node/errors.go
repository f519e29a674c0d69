package node

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

// wireErr gives a runtime error the protocol code of its class, so the
// client can test it with errors.Is (a missing file is ErrNotFound, not
// an internal error).
func wireErr(err error) error {
	if err == nil {
		return nil
	}
	var we *protocol.Error
	if errors.As(err, &we) {
		return err
	}
	if noSpace(err) && !errors.Is(err, protocol.ErrNoSpace) {
		return fmt.Errorf("%w%.0w", err, protocol.ErrNoSpace)
	}
	for _, m := range []struct{ from, to error }{
		// The errno classes first: they say more than the sentinel the
		// runtime wrapped them in.
		{syscall.ENOTEMPTY, protocol.ErrNotEmpty},
		{syscall.ENOTDIR, protocol.ErrNotDir},
		{syscall.EISDIR, protocol.ErrIsDir},
		{runtime.ErrNotFound, protocol.ErrNotFound},
		{runtime.ErrExists, protocol.ErrExists},
		{runtime.ErrInvalid, protocol.ErrInvalid},
		{runtime.ErrBusy, protocol.ErrBusy},
		{runtime.ErrPermission, protocol.ErrPermission},
	} {
		if errors.Is(err, m.from) && !errors.Is(err, m.to) {
			return fmt.Errorf("%w%.0w", err, m.to)
		}
	}
	return err
}

// noSpace reports whether err says a disk of the node is full: ENOSPC or
// EDQUOT from the node's own file calls, or the same in the text of an
// error containerd sent back over gRPC (image unpack, snapshots), where
// the errno does not survive.
func noSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EDQUOT.Error())
}

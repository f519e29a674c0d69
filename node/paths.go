package node

import (
	"fmt"
	"strings"

	"github.com/tffs/tffs/protocol"
)

// checkPath refuses container paths that are not absolute, contain NUL or
// climb with "..": such a path is never what a client means, and refusing
// it is clearer than resolving it. (Symlinks inside the container are
// confined by the runtime, which resolves every path within the root.)
func checkPath(p string) error {
	if p == "" || p[0] != '/' || len(p) > 4096 || strings.ContainsRune(p, 0) {
		return fmt.Errorf("path %q must be absolute: %w", p, protocol.ErrInvalid)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("path %q climbs with '..': %w", p, protocol.ErrInvalid)
		}
	}
	return nil
}

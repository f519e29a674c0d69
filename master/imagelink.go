package master

import (
	"errors"
	"fmt"
	"path"

	"github.com/tffs/tffs/protocol"
)

// errLinkLoop is a chain of symlinks longer than maxLinkHops, or a link
// whose target is longer than a symlink can hold (PATH_MAX).
var errLinkLoop = fmt.Errorf("%w: symbolic link loop or target too long", protocol.ErrInvalid)

// linkTarget is where the symlink at p leads inside the image's tree, as
// the container would resolve it (see walk): a clean absolute path with no
// symlink in it, the missing tail of a dangling link joined as text, or ""
// when the chain loops or leads to a path longer than maxResolved. The mount shows links as paths to this, so nothing
// an image ships can lead a client's kernel out of files/.
func (t *imageTree) linkTarget(p string) string {
	cur, rest, err := t.walk(p, true)
	if errors.Is(err, errLinkLoop) {
		return ""
	}
	r := path.Clean("/" + path.Join(append([]string{cur}, rest...)...))
	if len(r) >= maxResolved {
		return ""
	}
	return r
}

// maxResolved is PATH_MAX: a longer path cannot be a link's target.
const maxResolved = 4096

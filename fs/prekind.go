package fs

import (
	"os"
	"time"

	"bazil.org/fuse"

	"github.com/tffs/tffs/sdk"
)

// preKind is what a pre-boot entry will be in the container.
type preKind int

const (
	preKindFile      preKind = iota // a regular file, its bytes in a spool
	preKindDir                      // a directory (empty ones too)
	preKindSymlink                  // a symbolic link, its target as written
	preKindFIFO                     // a named pipe (never opened here or on the node)
	preKindSocket                   // a unix socket file (bind made it)
	preKindImageLink                // a hard link to a regular file of the image
)

// preEntry is a pre-boot entry until start; a file's bytes are in its
// spool (a temporary file of this host). Two paths holding the same
// *preEntry are hard links of one file: the first put makes it, the
// others are linked to it (putPreBoot).
type preEntry struct {
	kind   preKind
	mode   uint32
	target string // a symlink's target; an image link's image path
	body   spool
	mtime  time.Time
	// Set before start with chown and utimes, applied at start.
	uidSet, gidSet bool
	uid, gid       uint32
	atime          time.Time // zero: the time of the put
	timesSet       bool      // mtime (and atime) were given
}

func (e *preEntry) isDir() bool { return e.kind == preKindDir }

// fileMode is the type bits of e's kind.
func (k preKind) fileMode() os.FileMode {
	switch k {
	case preKindDir:
		return os.ModeDir
	case preKindSymlink:
		return os.ModeSymlink
	case preKindFIFO:
		return os.ModeNamedPipe
	case preKindSocket:
		return os.ModeSocket
	}
	return 0
}

// direntType is the directory-entry type of an entry of kind k.
func (k preKind) direntType() fuse.DirentType { return direntType(k.fileMode()) }

// makeKind is the sdk Make kind that makes a FIFO or socket entry.
func (k preKind) makeKind() string {
	if k == preKindSocket {
		return sdk.MakeSocket
	}
	return sdk.MakeFIFO
}

// linksLocked counts the names of pre-boot entry e, or for an image file
// at p (e nil) the image links made to it before start (c.mu held).
func (c *ctr) linksLocked(p string, e *preEntry) uint32 {
	n := uint32(0)
	for _, o := range c.pre {
		if o == e || (e == nil && o.kind == preKindImageLink && o.target == p) {
			n++
		}
	}
	return n
}

// dropLocked removes the name p of a pre-boot entry; the entry's spool
// goes with its last name (c.mu held).
func (c *ctr) dropLocked(p string) {
	e := c.pre[p]
	if e == nil {
		return
	}
	delete(c.pre, p)
	for _, o := range c.pre {
		if o == e {
			return
		}
	}
	e.body.close()
}

// imageLinkedLocked reports whether image links made before start name
// the image's file at p (c.mu held): replacing that name would leave them
// linked to the new file, not to the image's.
func (c *ctr) imageLinkedLocked(p string) bool {
	for _, o := range c.pre {
		if o.kind == preKindImageLink && o.target == p {
			return true
		}
	}
	return false
}

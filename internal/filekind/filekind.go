// Package filekind names a file's type for error messages ("a FIFO", "a
// character device", …), the same way in the master's image browsing and
// the node's container files.
package filekind

import "os"

// Of is m's type as words: "a directory", "a symbolic link", "a character
// device", "a block device", "a FIFO", "a socket", "a regular file", or
// "not a regular file" for anything else.
func Of(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m.IsRegular():
		return "a regular file"
	}
	return "not a regular file"
}

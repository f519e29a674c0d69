package runtime

import (
	"errors"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// maxResolveDepth bounds the directories a resolution holds open at once.
const maxResolveDepth = 1024

// linkTarget is where the symlink at container path p leads inside the
// container: a clean absolute path with no symlink in it at the time of
// resolution (see resolveIn), or "" when the chain loops, is longer than
// the kernel would follow or leads to a path longer than PATH_MAX.
func linkTarget(root *os.File, p string) string {
	r, err := resolveIn(root, p)
	if errors.Is(err, unix.ELOOP) || len(r) >= unix.PathMax {
		return ""
	}
	return r
}

// resolveIn resolves the absolute container path p inside root as the
// container's kernel would, following every symlink (the final one too):
// absolute targets start again at the container's root and ".." stops
// there. It returns a clean absolute container path.
//
// The walk never asks the kernel to follow anything: each component is
// opened alone with O_PATH|O_NOFOLLOW relative to the directory the walk
// holds, a symlink is read with readlinkat on its own handle and its target
// is spliced into the remaining path as text, and ".." drops the last
// directory handle instead of opening "..". So no symlink, magic link
// (/proc/<pid>/root) or mount point can take the walk out of root, even if
// root is /proc/<pid>/root and the container changes its tree meanwhile —
// unlike opening the path in root and asking /proc/self/fd where the handle
// is, which names the path in the node's mount namespace, not the
// container's.
//
// When a component is missing or not a directory, the walk stops and the
// rest of the path is joined as text (".." still stopping at the root), so
// a dangling link still gets a path inside the container; err then says
// why. More than maxSymlinks links give unix.ELOOP.
func resolveIn(root *os.File, p string) (string, error) {
	var (
		fds   []int    // fds[i] holds the directory /names[0]/…/names[i]
		names []string // the resolved path so far
	)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	top := func() int {
		if len(fds) == 0 {
			return int(root.Fd())
		}
		return fds[len(fds)-1]
	}
	pop := func() {
		if n := len(fds); n > 0 {
			unix.Close(fds[n-1])
			fds, names = fds[:n-1], names[:n-1]
		}
	}
	lexical := func(rest []string) string {
		return path.Clean("/" + path.Join(append(append([]string{}, names...), rest...)...))
	}
	rest := strings.Split(p, "/")
	hops := 0
	for len(rest) > 0 {
		part := rest[0]
		switch part {
		case "", ".":
			rest = rest[1:]
			continue
		case "..":
			pop()
			rest = rest[1:]
			continue
		}
		if len(fds) >= maxResolveDepth {
			return lexical(rest), unix.ENAMETOOLONG
		}
		fd, err := unix.Openat(top(), part, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return lexical(rest), err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return lexical(rest), err
		}
		rest = rest[1:]
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			fds, names = append(fds, fd), append(names, part)
		case unix.S_IFLNK:
			target, err := readlinkFd(fd)
			unix.Close(fd)
			if err != nil {
				return lexical(append([]string{part}, rest...)), err
			}
			if hops++; hops > maxSymlinks {
				return "", unix.ELOOP
			}
			if strings.HasPrefix(target, "/") {
				for len(fds) > 0 {
					pop()
				}
			}
			rest = append(strings.Split(target, "/"), rest...)
		default:
			unix.Close(fd)
			if len(rest) > 0 {
				return lexical(append([]string{part}, rest...)), unix.ENOTDIR
			}
			return lexical([]string{part}), nil
		}
	}
	return lexical(nil), nil
}

// readlinkFd reads the target of the symlink held by an O_PATH|O_NOFOLLOW
// handle.
func readlinkFd(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

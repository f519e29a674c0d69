package fs

import (
	"path"
	"strings"
)

// What readlink shows under files/
//
// A symlink in a container's files/ does not show the target the container
// wrote (much as sshfs's transform_symlinks does not): it shows a relative
// path to where the link leads inside the container. The node (or, before
// start, the master in the image's merged tree) resolves the target inside
// the container's root — every symlink on the way followed, ".." stopping
// at the root — into a clean absolute container path R with no symlink in
// it (FileInfo.Resolved). For a link in directory /D, readlink shows the
// path from /D to R: as many ".." as it takes to climb from /D to the
// directory /D and R share (at most to /, the top of files/), then the rest
// of R. So /bin/sh → busybox shows as "busybox", /etc/x → /usr/lib/y as
// "../usr/lib/y", a link in / to / as ".", one in /a/b to / as "../..",
// and issue 8's d1/…/d10/up/../../…/etc/hostname as "etc/hostname". A
// link whose chain loops (or whose path would be longer than PATH_MAX)
// shows its own name (so the kernel gives ELOOP);
// a dangling one shows where it would lead, the missing tail kept as text.
// realpath, readlink -f and cp -r of such links give paths inside files/
// that name what the container would reach.
//
// Why nothing can leave files/, whatever links a container or an image
// makes: the shown target is built, not checked. It is some ".." (never
// more than the depth of the link's directory below files/) followed by
// names with no ".." in them (R is cleaned as an absolute path here,
// whatever the node or master sent). The link's directory in the mount is
// a real directory node exactly that deep below files/ (lookups return a
// directory node only for a directory, never for a link), so the kernel's
// ".." steps end at files/ at the highest and every later step goes down.
// A symlink met on the way down is again one of these links, whose shown
// target again starts from its own directory, climbs at most to files/,
// and goes down. So every step of the kernel's walk stays at or below
// files/, and no read, write, stat, readlink -f, cp -r or find -L through
// the mount reaches anything outside this container's files/. The
// resolution on the node only makes the path right; safety does not depend
// on it (a stale, wrong or hostile R still lands inside files/; a node or
// master that sends no R, as before this field existed, makes every link
// show as a loop).

// shownTarget is what readlink shows for the link at container path p
// whose target resolves to container path resolved ("" for a loop).
func shownTarget(p, resolved string) string {
	p = path.Clean("/" + p)
	if resolved == "" {
		resolved = p // a loop: the link names itself, the kernel gives ELOOP
	}
	from := components(path.Dir(p))
	to := components(path.Clean("/" + resolved))
	common := 0
	for common < len(from) && common < len(to) && from[common] == to[common] {
		common++
	}
	parts := make([]string, 0, len(from)-common+len(to)-common)
	for range len(from) - common {
		parts = append(parts, "..")
	}
	parts = append(parts, to[common:]...)
	if len(parts) == 0 {
		return "."
	}
	if t := strings.Join(parts, "/"); len(t) < maxShown {
		return t
	}
	return path.Base(p) // too long for the kernel: shown like a loop
}

// maxShown is PATH_MAX: the kernel takes no longer link target.
const maxShown = 4096

// components splits a clean absolute path into its names ("/" has none).
func components(p string) []string {
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

package fs

import (
	"path"
	"strings"
)

// What readlink shows under files/
//
// A symlink in a container's files/ does not show the target the container
// wrote (as sshfs's transform_symlinks does not): it shows a relative path
// to where the link leads inside the container. The node (or, before
// start, the master in the image's merged tree) resolves the target inside
// the container's root — every symlink on the way followed, ".." stopping
// at the root — into a clean absolute container path R with no symlink in
// it (FileInfo.Resolved). For a link at container path /D/name, readlink
// shows
//
//	strings.Repeat("../", depth of /D) + R without its leading "/"
//
// e.g. /etc/x → /usr/lib/y shows as "../usr/lib/y", a link in / to / as
// ".", one in /a/b to / as "../..". A link whose chain loops shows its
// own path (so the kernel gives ELOOP); a dangling one shows where it would
// lead, the missing tail kept as text. realpath, readlink -f and cp -P of
// such a link give paths inside files/ that name what the container would
// reach.
//
// Why nothing can leave files/, whatever links a container or an image
// makes: the shown target is built, not checked. It is depth times ".."
// followed by a path with no ".." in it (R is cleaned as an absolute path
// here, whatever the node sent). The link's directory in the mount is a
// real directory node exactly depth levels below files/ (lookups return a
// directory node only for a directory, never for a link), so the kernel's
// ".." steps end at files/ itself and every later step goes down. A
// symlink met on the way down is again one of these links, whose target
// again starts from its own directory, goes up to files/ at most, and
// down. So every step of the kernel's walk stays at or below files/, and
// no read, write, stat, readlink -f, cp -r or find -L through the mount
// reaches anything outside this container's files/. The resolution on the
// node only makes the path right; safety does not depend on it (a stale,
// wrong or hostile R still lands inside files/).

// shownTarget is what readlink shows for the link at container path p
// whose target resolves to container path resolved ("" for a loop).
func shownTarget(p, resolved string) string {
	p = path.Clean("/" + p)
	if resolved == "" {
		resolved = p // a loop: the link names itself, the kernel gives ELOOP
	}
	rel := strings.TrimPrefix(path.Clean("/"+resolved), "/")
	depth := 0
	if dir := path.Dir(p); dir != "/" {
		depth = strings.Count(dir, "/")
	}
	up := strings.Repeat("../", depth)
	switch {
	case rel != "":
		return up + rel
	case depth == 0:
		return "."
	}
	return strings.TrimSuffix(up, "/")
}

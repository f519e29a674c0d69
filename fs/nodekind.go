package fs

import (
	fusefs "bazil.org/fuse/fs"
)

// nodeKind is the kind of a node under files/; a path's node is replaced
// when its kind changes.
type nodeKind int

const (
	kindPreDir      nodeKind = iota + 1 // filesDir
	kindPreFile                         // preFile
	kindPreLink                         // preLink
	kindLiveDir                         // liveDir
	kindLiveFile                        // liveFile
	kindLiveLink                        // liveLink
	kindLiveSpecial                     // liveSpecial
	kindPreSymlink                      // preSymlink
	kindPreSpecial                      // preSpecial
)

// kindOf is the kind of a node under files/ (0 for none).
func kindOf(n fusefs.Node) nodeKind {
	switch n.(type) {
	case *filesDir:
		return kindPreDir
	case *preFile:
		return kindPreFile
	case *preLink:
		return kindPreLink
	case *liveDir:
		return kindLiveDir
	case *liveFile:
		return kindLiveFile
	case *liveLink:
		return kindLiveLink
	case *liveSpecial:
		return kindLiveSpecial
	case *preSymlink:
		return kindPreSymlink
	case *preSpecial:
		return kindPreSpecial
	}
	return 0
}

// node returns the one node for a path under this view, replacing it when
// its kind changed.
func (v *ctrDir) node(p string, kind nodeKind, mk func() fusefs.Node) fusefs.Node {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := v.files[p]; n != nil && kindOf(n) == kind {
		return n
	}
	n := mk()
	v.files[p] = n
	return n
}

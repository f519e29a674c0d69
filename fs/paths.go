package fs

import (
	"os"
	"strings"
	"sync/atomic"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// pathOf is a node's path in the container. The kernel keeps a node across
// a rename, so a rename moves the paths of the node and all below it.
type pathOf struct{ v atomic.Pointer[string] }

func (p *pathOf) path() string     { return *p.v.Load() }
func (p *pathOf) setPath(s string) { p.v.Store(&s) }
func withPath[T interface{ setPath(string) }](n T, p string) T {
	n.setPath(p)
	return n
}

// viewList is a snapshot of the container's views (its directory as
// shown under each node directory and containers/).
func (c *ctr) viewList() []*ctrDir {
	c.mu.Lock()
	defer c.mu.Unlock()
	views := make([]*ctrDir, 0, len(c.views))
	for _, v := range c.views {
		views = append(views, v)
	}
	return views
}

// movePaths re-keys the nodes at from and below to their new paths in
// every view of the container, after a rename in the container.
func (c *ctr) movePaths(from, to string) {
	views := c.viewList()
	for _, v := range views {
		v.mu.Lock()
		moved := map[string]fusefs.Node{}
		for p, n := range v.files {
			if p == from || strings.HasPrefix(p, from+"/") {
				np := to + p[len(from):]
				if s, ok := n.(interface{ setPath(string) }); ok {
					s.setPath(np)
				}
				moved[np] = n
				delete(v.files, p)
			}
		}
		for p, n := range moved {
			v.files[p] = n
		}
		v.mu.Unlock()
	}
}

// linkAttr describes a symlink whose (rewritten) target is t.
func linkAttr(a *fuse.Attr, t string, err error) error {
	if err != nil {
		return err
	}
	fileAttr(a, os.ModeSymlink|0o777, len(t))
	return nil
}

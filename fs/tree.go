package fs

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// FS is the filesystem of one session.
type FS struct {
	loc    *sdk.Location
	log    *slog.Logger
	events *stream
	root   *fixedDir
	quit   chan struct{}
	stopMu sync.Once

	mu    sync.Mutex
	ctrs  map[string]*ctr // by name
	nodes map[string]*nodeDir

	srv atomic.Pointer[fusefs.Server] // set once serving starts (for invalidations)
	ops opCounts                      // requests served and calls made (opcount.go)

	readSlots streamSlots // places for read streams (readstream.go)
}

func newFS(loc *sdk.Location, log *slog.Logger) *FS {
	f := &FS{loc: loc, log: log, events: newStream(), quit: make(chan struct{}),
		ctrs: map[string]*ctr{}, nodes: map[string]*nodeDir{}, readSlots: newStreamSlots()}
	f.root = &fixedDir{entries: []dirEntry{
		{"README", &textFile{get: func() []byte { return []byte(readme) }}, fuse.DT_File},
		{"resources.json", &textFile{get: f.resources}, fuse.DT_File},
		{"events", &streamFile{get: func() *stream { return f.events }}, fuse.DT_File},
		{"images", &imagesDir{f: f}, fuse.DT_Dir},
		{"nodes", &nodesDir{f: f}, fuse.DT_Dir},
		{"containers", &containersDir{f: f}, fuse.DT_Dir},
		{"volumes", newVolumesDir(f), fuse.DT_Dir},
		{"externals", &externalsDir{f: f}, fuse.DT_Dir},
		{"endpoints", &endpointsDir{f: f}, fuse.DT_Dir},
	}}
	go f.watchOffer()
	go f.watchVolumes()
	return f
}

// Root is the mount's root directory.
func (f *FS) Root() (fusefs.Node, error) { return f.root, nil }

func (f *FS) stop() {
	f.stopMu.Do(func() {
		close(f.quit)
		f.events.Close()
	})
}

// emit appends one event to the events stream.
func (f *FS) emit(kind string, kv ...any) {
	ev := map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "event": kind}
	for i := 0; i+1 < len(kv); i += 2 {
		ev[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(ev)
	f.events.Write(append(b, '\n'))
}

// watchOffer turns changes of the offer's node set into events.
func (f *FS) watchOffer() {
	known := map[string]bool{}
	for _, n := range f.loc.Offer().Nodes {
		known[n.Name] = true
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-f.quit:
			return
		case <-t.C:
		}
		now := map[string]bool{}
		for _, n := range f.loc.Offer().Nodes {
			now[n.Name] = true
			if !known[n.Name] {
				f.emit("node_added", "node", n.Name)
			}
		}
		for n := range known {
			if !now[n] {
				f.emit("node_gone", "node", n)
			}
		}
		known = now
	}
}

func (f *FS) resources() []byte {
	b, _ := json.MarshalIndent(f.loc.Offer(), "", "  ")
	return append(b, '\n')
}

// nodesDir lists "any" and the nodes of the offer.
type nodesDir struct{ f *FS }

func (d *nodesDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o555); return nil }

func (d *nodesDir) names() []string {
	names := []string{"any"}
	for _, n := range d.f.loc.Offer().Nodes {
		if n.Name != "any" && n.Name != "" {
			names = append(names, n.Name)
		}
	}
	return names
}

// Lookup: the kernel keeps a node's name for attrTTL (every path walk
// down to a container's file passes here); a name not found is not kept.
func (d *nodesDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = attrTTL
	for _, n := range d.names() {
		if n == req.Name {
			return d.f.nodeDir(n), nil
		}
	}
	// A node that left keeps its directory while containers made there remain.
	if d.f.hasContainersIn(req.Name) {
		return d.f.nodeDir(req.Name), nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *nodesDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	var out []fuse.Dirent
	for _, n := range d.names() {
		out = append(out, fuse.Dirent{Name: n, Type: fuse.DT_Dir})
	}
	return out, nil
}

func (f *FS) nodeDir(name string) *nodeDir {
	f.mu.Lock()
	defer f.mu.Unlock()
	nd := f.nodes[name]
	if nd == nil {
		nd = &nodeDir{f: f, name: name}
		nd.info = &textFile{get: nd.infoJSON}
		f.nodes[name] = nd
	}
	return nd
}

func (f *FS) hasContainersIn(node string) bool { return len(f.containersIn(node)) > 0 }

// containersIn lists the containers shown under nodes/<node>/: those made
// there, and for a real node those placed on it.
func (f *FS) containersIn(node string) []*ctr {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*ctr
	for _, c := range f.ctrs {
		if c.parent == node || (node != "any" && c.realNode() == node) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// nodeDir is nodes/<node>/ (or nodes/any/): info.json and container dirs.
type nodeDir struct {
	f    *FS
	name string
	info *textFile
}

func (d *nodeDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

func (d *nodeDir) infoJSON() []byte {
	nodes := d.f.loc.Offer().Nodes
	var v any = map[string]any{"node": d.name, "error": "not in the offer"}
	for _, n := range nodes {
		if n.Name == d.name || (d.name == "any" && n.Rank == 1) {
			v = n
		}
	}
	if d.name == "any" && len(nodes) > 0 {
		v = map[string]any{"best": nodes[0], "nodes": len(nodes)}
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return append(b, '\n')
}

// Lookup: the kernel keeps a container's name for attrTTL (every path
// walk down to a container's file passes here); removeCtr drops it from
// the kernel in every directory showing it. A name not found is not kept.
func (d *nodeDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = 0
	if req.Name == "info.json" {
		return d.info, nil
	}
	for _, c := range d.f.containersIn(d.name) {
		if c.name == req.Name {
			resp.EntryValid = attrTTL
			return c.view(d.name), nil
		}
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *nodeDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	out := []fuse.Dirent{{Name: "info.json", Type: fuse.DT_File}}
	for _, c := range d.f.containersIn(d.name) {
		out = append(out, fuse.Dirent{Name: c.name, Type: fuse.DT_Dir})
	}
	return out, nil
}

func (d *nodeDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	if req.Name == "info.json" || strings.HasPrefix(req.Name, ".") {
		return nil, fuse.Errno(syscall.EINVAL)
	}
	c, err := d.f.newCtr(req.Name, d.name)
	if err != nil {
		return nil, err
	}
	return c.view(d.name), nil
}

func (d *nodeDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	if !req.Dir {
		return fuse.Errno(syscall.EPERM)
	}
	return d.f.removeCtr(ctx, req.Name)
}

func (f *FS) newCtr(name, parent string) (*ctr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, taken := f.ctrs[name]; taken {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	c := newCtr(f, name, parent)
	f.ctrs[name] = c
	f.emit("created", "container", name, "node", parent)
	return c, nil
}

func (f *FS) removeCtr(ctx context.Context, name string) error {
	f.mu.Lock()
	c := f.ctrs[name]
	f.mu.Unlock()
	if c == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	if err := c.destroy(ctx); err != nil {
		return errno(err)
	}
	f.mu.Lock()
	if f.ctrs[name] == c {
		delete(f.ctrs, name)
	}
	f.mu.Unlock()
	f.forgetCtrName(c)
	return nil
}

// forgetCtrName drops the kernel's names of a removed container in the
// node directories showing it (the rmdir's own is dropped by the kernel).
// It runs after the rmdir is answered: the kernel holds the directory the
// rmdir is in while it is served.
func (f *FS) forgetCtrName(c *ctr) {
	srv := f.srv.Load()
	if srv == nil {
		return
	}
	c.mu.Lock()
	var parents []string
	for p := range c.views {
		parents = append(parents, p)
	}
	c.mu.Unlock()
	if n := c.realNode(); n != "" {
		parents = append(parents, n)
	}
	var dirs []fusefs.Node
	for _, p := range parents {
		f.mu.Lock()
		nd := f.nodes[p]
		f.mu.Unlock()
		if nd != nil {
			dirs = append(dirs, nd)
		}
	}
	go func() {
		for _, d := range dirs {
			_ = srv.InvalidateEntry(d, c.name) // ErrNotCached: nothing to drop
		}
	}()
}

func (f *FS) lookupCtr(name string) *ctr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ctrs[name]
}

// containersDir lists every container of the session as a link to the
// directory it was made in.
type containersDir struct{ f *FS }

func (d *containersDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o555); return nil }

func (d *containersDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = 0
	c := d.f.lookupCtr(req.Name)
	if c == nil {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	return c.link, nil
}

func (d *containersDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	var out []fuse.Dirent
	for name := range d.f.ctrs {
		out = append(out, fuse.Dirent{Name: name, Type: fuse.DT_Link})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *containersDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	return d.f.removeCtr(ctx, req.Name)
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.Node                = (*containersDir)(nil)
	_ fusefs.NodeRequestLookuper = (*containersDir)(nil)
	_ fusefs.NodeRemover         = (*containersDir)(nil)
	_ fusefs.Node                = (*nodeDir)(nil)
	_ fusefs.NodeRequestLookuper = (*nodeDir)(nil)
	_ fusefs.NodeMkdirer         = (*nodeDir)(nil)
	_ fusefs.NodeRemover         = (*nodeDir)(nil)
	_ fusefs.Node                = (*nodesDir)(nil)
	_ fusefs.NodeRequestLookuper = (*nodesDir)(nil)
)

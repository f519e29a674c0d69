package fs

import (
	"context"
	"encoding/json"
	"sync"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// externalsDir lists the tagged containers of the account's other
// sessions (from the resource offer); each is a directory with ip and
// info.json. A container's ctl takes `allow externals/<tag>`.
type externalsDir struct {
	f *FS

	mu   sync.Mutex
	dirs map[string]*fixedDir // by tag, so each keeps its identity
}

func (d *externalsDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o555); return nil }

func (d *externalsDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	var out []fuse.Dirent
	for _, e := range d.f.loc.Offer().Externals {
		out = append(out, fuse.Dirent{Name: e.Tag, Type: fuse.DT_Dir})
	}
	return out, nil
}

func (d *externalsDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = 0
	if sdk.CheckTag(req.Name) != nil {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	if _, err := d.f.loc.External(cctx, req.Name); err != nil {
		return nil, errno(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dirs == nil {
		d.dirs = map[string]*fixedDir{}
	}
	if dir := d.dirs[req.Name]; dir != nil {
		return dir, nil
	}
	tag := req.Name
	get := func() *sdk.External {
		ctx, cancel := callCtx(context.Background())
		defer cancel()
		e, err := d.f.loc.External(ctx, tag)
		if err != nil {
			return nil
		}
		return e
	}
	dir := &fixedDir{entries: []dirEntry{
		{"ip", &textFile{get: func() []byte {
			if e := get(); e != nil && e.IP != "" {
				return []byte(e.IP + "\n")
			}
			return nil
		}}, fuse.DT_File},
		{"info.json", &textFile{get: func() []byte {
			e := get()
			if e == nil {
				return nil
			}
			b, _ := json.MarshalIndent(map[string]string{"tag": e.Tag, "name": e.Name, "node": e.Node, "ip": e.IP}, "", "  ")
			return append(b, '\n')
		}}, fuse.DT_File},
	}}
	d.dirs[tag] = dir
	return dir, nil
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.Node                = (*externalsDir)(nil)
	_ fusefs.NodeRequestLookuper = (*externalsDir)(nil)
)

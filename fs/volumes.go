package fs

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// volumesDir is volumes/: the account's persistent volumes. mkdir NAME
// creates one, rmdir NAME destroys it (EBUSY while a container mounts it).
type volumesDir struct {
	f *FS

	mu   sync.Mutex
	dirs map[string]*volDir // by volume id, so each keeps its identity
}

func newVolumesDir(f *FS) *volumesDir { return &volumesDir{f: f, dirs: map[string]*volDir{}} }

func (d *volumesDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

// dir returns the node of volume v.
func (d *volumesDir) dir(v *sdk.Volume) *volDir {
	d.mu.Lock()
	defer d.mu.Unlock()
	if vd := d.dirs[v.ID]; vd != nil {
		return vd
	}
	vd := newVolDir(d.f, v)
	d.dirs[v.ID] = vd
	return vd
}

func (d *volumesDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = 0
	cctx, cancel := callCtx(ctx)
	defer cancel()
	list, err := d.f.loc.Volumes(cctx)
	if err != nil {
		return nil, errno(err)
	}
	for _, info := range list {
		if info.Name == req.Name {
			return d.dir(&sdk.Volume{ID: info.ID, Name: info.Name, Tag: info.Tag, Node: info.Node}), nil
		}
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *volumesDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	list, err := d.f.loc.Volumes(cctx)
	if err != nil {
		return nil, errno(err)
	}
	var out []fuse.Dirent
	for _, v := range list {
		out = append(out, fuse.Dirent{Name: v.Name, Type: fuse.DT_Dir})
	}
	return out, nil
}

func (d *volumesDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	v, err := d.f.loc.CreateVolume(cctx, req.Name)
	if err != nil {
		d.f.log.Info("rejected", "volume", req.Name, "err", err)
		return nil, errno(err)
	}
	return d.dir(v), nil
}

func (d *volumesDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	if !req.Dir {
		return fuse.Errno(syscall.EISDIR)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	v, err := d.f.loc.Volume(cctx, req.Name)
	if err == nil {
		err = v.Destroy(cctx)
	}
	if err != nil {
		d.f.log.Info("rejected", "volume", req.Name, "err", err)
		return errno(err)
	}
	d.mu.Lock()
	delete(d.dirs, v.ID)
	d.mu.Unlock()
	return nil
}

// volDir is volumes/<name>/: ctl (snapshot, rollback, move NODE),
// info.json, error and files/ (the volume's data, with the rules of a
// container's files/).
type volDir struct {
	fixedDir
	f     *FS
	v     *sdk.Volume
	files *ctr // files/: the volume's data as a container's

	mu     sync.Mutex
	errMsg string
}

func newVolDir(f *FS, v *sdk.Volume) *volDir {
	d := &volDir{f: f, v: v}
	var files fusefs.Node
	files, d.files = f.volumeFiles(v)
	d.entries = []dirEntry{
		{"ctl", &ctlFile{do: d.ctl}, fuse.DT_File},
		{"info.json", &textFile{get: d.info}, fuse.DT_File},
		{"files", files, fuse.DT_Dir},
		{"error", &textFile{get: func() []byte {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.errMsg == "" {
				return nil
			}
			return []byte(d.errMsg + "\n")
		}}, fuse.DT_File},
	}
	return d
}

func (d *volDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

func (d *volDir) fail(err error) error {
	d.mu.Lock()
	d.errMsg = err.Error()
	d.mu.Unlock()
	d.f.log.Info("rejected", "volume", d.v.Name, "err", err)
	return errno(err)
}

// ctl carries out one command written to the volume's ctl.
func (d *volDir) ctl(ctx context.Context, line string) error {
	verb, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	cctx, cancel := callCtx(ctx)
	defer cancel()
	var err error
	switch {
	case verb == "snapshot" && rest == "":
		err = d.v.Snapshot(cctx)
	case verb == "rollback" && rest == "":
		err = d.v.Rollback(cctx)
		if err == nil {
			d.files.forgetFiles() // the snapshot's files replaced them
		}
	case verb == "move" && rest != "" && !strings.ContainsAny(rest, " \t"):
		// A move may take longer than one call: it has the request's own
		// context (Ctrl-C interrupts it, and cancels the move).
		err = d.v.Move(ctx, rest)
	default:
		err = failf(syscall.EINVAL, "ctl: %q: use snapshot, rollback or move NODE", line)
	}
	if err != nil {
		return d.fail(err)
	}
	d.f.emit("volume_"+verb, "volume", d.v.Name)
	return nil
}

// info is info.json: the volume's node, size used, snapshots and the
// containers that mount it.
func (d *volDir) info() []byte {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCallTimeout)
	defer cancel()
	info, err := d.v.Info(ctx)
	var v any = info
	if err != nil {
		v = map[string]string{"volume": d.v.Name, "error": err.Error()}
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return append(b, '\n')
}

// volumeFiles is files/ of a volume: the files/ tree of containers, on a
// container that is the volume's data (sdk.Volume.Files): the node
// resolves every path inside the volume, and links are shown rewritten to
// stay inside files/.
func (f *FS) volumeFiles(v *sdk.Volume) (fusefs.Node, *ctr) {
	c := newCtr(f, "volume "+v.Name, "volumes")
	c.state, c.c, c.node = stateRunning, v.Files(), v.Node
	view := &ctrDir{c: c, files: map[string]fusefs.Node{}}
	files := withPath(&filesDir{v: view}, "/")
	view.entries = []dirEntry{{"files", files, fuse.DT_Dir}}
	c.views["volumes"] = view // its only view (forgetFiles, openFile and movePaths go through views)
	return files, c
}

// parseVolumeLines reads a container's volumes file: one "NAME
// /mount/point" line per volume, "ro" after it for a read-only mount.
func parseVolumeLines(s string) ([]sdk.SpawnOption, error) {
	var opts []sdk.SpawnOption
	for _, l := range strings.Split(s, "\n") {
		w := strings.Fields(l)
		if len(w) == 0 {
			continue
		}
		if len(w) < 2 || len(w) > 3 || (len(w) == 3 && w[2] != "ro") || !strings.HasPrefix(w[1], "/") {
			return nil, failf(syscall.EINVAL, "volumes: %q is not NAME /mount/point [ro]", strings.TrimSpace(l))
		}
		var mo []sdk.MountOption
		if len(w) == 3 {
			mo = append(mo, sdk.ReadOnly())
		}
		opts = append(opts, sdk.MountVolumeNamed(w[0], w[1], mo...))
	}
	return opts, nil
}

func checkVolumes(s string) error {
	_, err := parseVolumeLines(s)
	return err
}

// watchVolumes turns changes of the account's volumes in the offer (made
// by this session or another one of the account) into events.
func (f *FS) watchVolumes() {
	names := func() map[string]string {
		out := map[string]string{}
		for _, v := range f.loc.Offer().Volumes {
			out[v.ID] = v.Name
		}
		return out
	}
	known := names()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-f.quit:
			return
		case <-t.C:
		}
		now := names()
		for id, name := range now {
			if _, ok := known[id]; !ok {
				f.emit("volume_created", "volume", name)
			}
		}
		for id, name := range known {
			if _, ok := now[id]; !ok {
				f.emit("volume_destroyed", "volume", name)
			}
		}
		known = now
	}
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.Node                = (*volDir)(nil)
	_ fusefs.Node                = (*volumesDir)(nil)
	_ fusefs.NodeRequestLookuper = (*volumesDir)(nil)
	_ fusefs.NodeMkdirer         = (*volumesDir)(nil)
	_ fusefs.NodeRemover         = (*volumesDir)(nil)
)

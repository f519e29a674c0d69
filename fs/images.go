package fs

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// imagesDir lists the account's images; a file copied in is imported.
type imagesDir struct{ f *FS }

func (d *imagesDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

// escapeImage makes an image reference a file name.
func escapeImage(name string) string {
	return strings.NewReplacer("%", "%25", "/", "%2F", ":", "%3A").Replace(name)
}

func (d *imagesDir) list(ctx context.Context) (map[string][]byte, error) {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	imgs, err := d.f.loc.Images(cctx)
	if err != nil {
		return nil, errno(err)
	}
	out := map[string][]byte{}
	for _, img := range imgs {
		b, _ := json.MarshalIndent(img, "", "  ")
		out[escapeImage(img.Name)] = append(b, '\n')
	}
	return out, nil
}

func (d *imagesDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	resp.EntryValid = 0
	imgs, err := d.list(ctx)
	if err != nil {
		return nil, err
	}
	b, ok := imgs[req.Name]
	if !ok {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	return &textFile{get: func() []byte { return b }}, nil
}

func (d *imagesDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	imgs, err := d.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []fuse.Dirent
	for n := range imgs {
		out = append(out, fuse.Dirent{Name: n, Type: fuse.DT_File})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *imagesDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	tmp, err := os.CreateTemp("", "tffs-image-")
	if err != nil {
		return nil, nil, fuse.Errno(syscall.EIO)
	}
	u := &imageUpload{f: d.f, name: req.Name, tmp: tmp}
	resp.Flags |= fuse.OpenDirectIO
	return u, u, nil
}

// imageUpload is an archive being copied into images/: kept in a temporary
// file and imported when the writer closes it.
type imageUpload struct {
	f     *FS
	name  string
	tmp   *os.File   // set at create, closed at release
	mu    sync.Mutex // guards size and dirty; never held across I/O
	size  int64
	dirty bool
}

func (u *imageUpload) Attr(ctx context.Context, a *fuse.Attr) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	fileAttr(a, 0o644, int(u.size))
	return nil
}

func (u *imageUpload) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	return nil
}

func (u *imageUpload) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	n, err := u.tmp.WriteAt(req.Data, req.Offset)
	if err != nil {
		return fuse.Errno(syscall.EIO)
	}
	u.mu.Lock()
	if end := req.Offset + int64(n); end > u.size {
		u.size = end
	}
	u.dirty = true
	u.mu.Unlock()
	resp.Size = n
	return nil
}

// Flush imports what was written. The upload's mutex is not held while
// the location imports it (that may take minutes), so its size and the
// listing of images/ answer meanwhile.
func (u *imageUpload) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	u.mu.Lock()
	dirty := u.dirty
	u.dirty = false
	u.mu.Unlock()
	if !dirty {
		return nil
	}
	imgs, err := sdk.LoadImages(u.tmp.Name())
	if err != nil {
		u.f.log.Warn("image import: not an image archive", "file", u.name, "err", err)
		return fuse.Errno(syscall.EINVAL)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, img := range imgs {
		if err := u.f.loc.EnsureImage(cctx, img, "", nil); err != nil {
			u.f.log.Warn("image import failed", "file", u.name, "image", img.Name, "err", err)
			return errno(err)
		}
		u.f.emit("image_imported", "image", img.Name)
	}
	return nil
}

func (u *imageUpload) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	u.tmp.Close()
	os.Remove(u.tmp.Name())
	return nil
}

const readme = `tffs — this directory is one session with a tffs location.
Unmounting it ends the session: the location removes what it made.

  resources.json      the live resource offer (nodes and their load)
  events              blocking read: one JSON line per event
  images/             the images you hold; cp IMAGE.tar images/ imports one
  nodes/any/          mkdir NAME = a new container, placed by the location
  nodes/NODE/         the same on a given node; info.json describes it
  containers/         every container of this session (links)
  volumes/NAME/       your account's persistent volumes: mkdir creates one,
                      rmdir destroys it (EBUSY while a container mounts it);
                      ctl: snapshot | rollback | move NODE; info.json; files/
                      (the volume's files); a container's volumes file takes
                      NAME /mount/point [ro] lines before start
  externals/ endpoints/   not built yet

A container directory nodes/any/NAME/:
  image cmd env tag   write before start (cmd: words split like a shell:
                      'single' and "double" quotes, backslash escapes;
                      env: KEY=VALUE lines; tag: names the container for
                      your other sessions, unique in your account)
  files/              before start: the image's files (once image is
                      written) under your pre-boot files: writes become
                      pre-boot files; after start: the container's files.
                      A symlink shows a relative path to where it leads
                      inside the container (resolved there), never leaving
                      files/: /etc/x -> /usr/y reads as ../usr/y
  ctl                 start | start asleep | run CMD... | reboot | reset |
                      stop | destroy
  status              new, starting, running, exited N, destroyed
  wait                blocks until the main process exits; reads its code
  stdout stderr       the main process's output from its start (tail -f)
  procs/P/            mkdir P; write cmd (and env); echo start > ctl;
                      stdin stdout stderr status wait; ctl: kill, signal N
  procs/last          the process made by the last "run" on ctl
  error               why the last rejected write failed
rmdir NAME destroys the container.

Example:
  cd nodes/any && mkdir web && echo busybox > web/image
  echo 'httpd -f -p 80 -h /www' > web/cmd
  echo '<h1>hello</h1>' > web/files/www/index.html
  echo start > web/ctl && cat web/status
  echo 'run ls /www' > web/ctl; cat web/procs/last/stdout
`

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.Node                = (*imageUpload)(nil)
	_ fusefs.NodeSetattrer       = (*imageUpload)(nil)
	_ fusefs.HandleWriter        = (*imageUpload)(nil)
	_ fusefs.HandleFlusher       = (*imageUpload)(nil)
	_ fusefs.HandleReleaser      = (*imageUpload)(nil)
	_ fusefs.Node                = (*imagesDir)(nil)
	_ fusefs.NodeRequestLookuper = (*imagesDir)(nil)
	_ fusefs.NodeCreater         = (*imagesDir)(nil)
)

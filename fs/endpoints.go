package fs

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// endpointsDir holds the session's web endpoints: mkdir DOMAIN makes one;
// its ctl takes `publish NAME PORT` and `unpublish NAME`; cert and key
// take the PEM certificate and key served over HTTPS; info.json describes
// it; rmdir unpublishes everything of it.
type endpointsDir struct {
	f *FS

	mu   sync.Mutex
	eps  map[string]*endpointDir
	once sync.Once
}

type endpointDir struct {
	fixedDir
	f      *FS
	domain string

	mu        sync.Mutex
	cert, key string
	published map[string]int // container name → port
	errMsg    string
}

func (d *endpointsDir) init() {
	d.once.Do(func() { d.eps = map[string]*endpointDir{} })
}

func (d *endpointsDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

func (d *endpointsDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.eps))
	for n := range d.eps {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]fuse.Dirent, 0, len(names))
	for _, n := range names {
		out = append(out, fuse.Dirent{Name: n, Type: fuse.DT_Dir})
	}
	return out, nil
}

func (d *endpointsDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.eps[req.Name]; e != nil {
		return e, nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

func (d *endpointsDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	d.init()
	name := strings.ToLower(req.Name)
	if name != req.Name || !strings.Contains(name, ".") || strings.ContainsAny(name, "/ ") {
		return nil, fuse.Errno(syscall.EINVAL)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.eps[name] != nil {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	e := &endpointDir{f: d.f, domain: name, published: map[string]int{}}
	e.entries = []dirEntry{
		{"ctl", &ctlFile{do: e.ctl}, fuse.DT_File},
		{"cert", &propFile{get: e.get(&e.cert), set: e.setPEM(&e.cert)}, fuse.DT_File},
		{"key", &propFile{get: e.get(&e.key), set: e.setPEM(&e.key)}, fuse.DT_File},
		{"info.json", &textFile{get: e.info}, fuse.DT_File},
		{"error", &textFile{get: func() []byte {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.errMsg == "" {
				return nil
			}
			return []byte(e.errMsg + "\n")
		}}, fuse.DT_File},
	}
	d.eps[name] = e
	return e, nil
}

func (d *endpointsDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	d.init()
	d.mu.Lock()
	e := d.eps[req.Name]
	delete(d.eps, req.Name)
	d.mu.Unlock()
	if e == nil {
		return fuse.Errno(syscall.ENOENT)
	}
	e.mu.Lock()
	names := make([]string, 0, len(e.published))
	for n := range e.published {
		names = append(names, n)
	}
	e.mu.Unlock()
	for _, n := range names {
		e.ctl(ctx, "unpublish "+n)
	}
	return nil
}

func (e *endpointDir) Attr(ctx context.Context, a *fuse.Attr) error { dirAttr(a, 0o755); return nil }

func (e *endpointDir) fail(err error) error {
	e.mu.Lock()
	e.errMsg = err.Error()
	e.mu.Unlock()
	return errno(err)
}

func (e *endpointDir) get(p *string) func() string {
	return func() string {
		e.mu.Lock()
		defer e.mu.Unlock()
		return *p
	}
}

// setPEM keeps a write to cert or key; once both form a valid pair they
// go to the gateway.
func (e *endpointDir) setPEM(p *string) func(string) error {
	return func(v string) error {
		e.mu.Lock()
		*p = v
		cert, key := e.cert, e.key
		e.mu.Unlock()
		if cert == "" || key == "" {
			return nil
		}
		if _, err := tls.X509KeyPair([]byte(cert), []byte(key)); err != nil {
			return nil // not complete yet
		}
		ctx, cancel := callCtx(context.Background())
		defer cancel()
		if err := e.f.loc.SetEndpointCert(ctx, e.domain, []byte(cert), []byte(key)); err != nil {
			return e.fail(err)
		}
		return nil
	}
}

// ctl takes `publish NAME PORT` and `unpublish NAME`.
func (e *endpointDir) ctl(ctx context.Context, line string) error {
	f := strings.Fields(line)
	if len(f) == 0 || !(f[0] == "publish" && len(f) == 3 || f[0] == "unpublish" && len(f) == 2) {
		return e.fail(failf(syscall.EINVAL, "ctl: publish NAME PORT or unpublish NAME"))
	}
	e.f.mu.Lock()
	c := e.f.ctrs[f[1]]
	e.f.mu.Unlock()
	var sc *sdk.Container
	if c != nil {
		sc = c.started()
	}
	if sc == nil {
		return e.fail(failf(syscall.ENOENT, "ctl: %s: no started container %q in this session", f[0], f[1]))
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	if f[0] == "unpublish" {
		if err := e.f.loc.Unpublish(cctx, e.domain, sc); err != nil {
			return e.fail(err)
		}
		e.mu.Lock()
		delete(e.published, f[1])
		e.mu.Unlock()
		return nil
	}
	port, err := strconv.Atoi(f[2])
	if err != nil || port <= 0 || port > 65535 {
		return e.fail(failf(syscall.EINVAL, "ctl: publish: bad port %q", f[2]))
	}
	if err := e.f.loc.Publish(cctx, e.domain, sc, port); err != nil {
		return e.fail(err)
	}
	e.mu.Lock()
	e.published[f[1]] = port
	e.mu.Unlock()
	return nil
}

func (e *endpointDir) info() []byte {
	e.mu.Lock()
	pub := map[string]int{}
	for n, p := range e.published {
		pub[n] = p
	}
	tlsOn := e.cert != "" && e.key != ""
	e.mu.Unlock()
	b, _ := json.MarshalIndent(map[string]any{"domain": e.domain, "containers": pub, "tls": tlsOn,
		"http": e.f.loc.Offer().Gateway.HTTP, "https": e.f.loc.Offer().Gateway.HTTPS}, "", "  ")
	return append(b, '\n')
}

// Compile-time checks of the FUSE interfaces these types implement.
var (
	_ fusefs.Node                = (*endpointDir)(nil)
	_ fusefs.Node                = (*endpointsDir)(nil)
	_ fusefs.NodeRequestLookuper = (*endpointsDir)(nil)
	_ fusefs.NodeMkdirer         = (*endpointsDir)(nil)
	_ fusefs.NodeRemover         = (*endpointsDir)(nil)
)

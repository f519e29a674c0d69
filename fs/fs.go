// Package fs serves a tffs location session as a FUSE filesystem: the
// tree of DESIGN.md ("The filesystem"), where mkdir makes a container and
// writes to control files start, run and stop things. It translates file
// operations into sdk calls and makes no decisions of its own.
//
// fs imports sdk (and the protocol types sdk exposes) and bazil.org/fuse;
// never master/, node/ or other internals.
package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/tffs/tffs/sdk"
)

// DefaultCallTimeout bounds every location call a FUSE handler makes
// (answered EIO when it passes); see CallTimeout.
const DefaultCallTimeout = 30 * time.Second

// Option configures Mount.
type Option func(*options)

type options struct {
	callTimeout time.Duration
}

// CallTimeout sets how long a file operation waits for the location
// before it fails with EIO (default DefaultCallTimeout).
func CallTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.callTimeout = d
		}
	}
}

// timeoutKey carries the mount's call timeout in each request's context.
type timeoutKey struct{}

// Mounted is a live mount of a session.
type Mounted struct {
	dir  string
	loc  *sdk.Location
	conn *fuse.Conn
	fsys *FS
	done chan struct{}
	once sync.Once
}

// Mount mounts the location session loc at dir and serves until ctx ends or
// the filesystem is unmounted (fusermount3 -u, umount); then it closes the
// session. It returns once the mount is live.
func Mount(ctx context.Context, loc *sdk.Location, dir string, log *slog.Logger, opts ...Option) (*Mounted, error) {
	o := options{callTimeout: DefaultCallTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := fuse.Mount(dir, fuse.FSName("tffs"), fuse.Subtype("tffs"), fuse.MaxReadahead(512<<10), fuse.ReaddirPlus())
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	eioLog.Store(log)
	f := newFS(loc, log)
	m := &Mounted{dir: dir, loc: loc, conn: conn, fsys: f, done: make(chan struct{})}
	go func() {
		srv := fusefs.New(conn, &fusefs.Config{WithContext: func(ctx context.Context, req fuse.Request) context.Context {
			kind := f.ops.op(req)
			return context.WithValue(context.WithValue(ctx, timeoutKey{}, o.callTimeout), countsKey{}, countsCtx{&f.ops, kind})
		}})
		f.srv.Store(srv)
		if err := srv.Serve(f); err != nil {
			log.Warn("fuse serve", "dir", dir, "err", err)
		}
		conn.Close()
		f.stop()
		loc.Close()
		close(m.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			m.Unmount()
		case <-m.done:
		}
	}()
	return m, nil
}

// Unmount detaches the mount lazily (fusermount3 -u -z), waits for serving
// to end and closes the session.
func (m *Mounted) Unmount() error {
	var err error
	m.once.Do(func() {
		select {
		case <-m.done:
			return
		default:
		}
		out, e := exec.Command("fusermount3", "-u", "-z", m.dir).CombinedOutput()
		if e != nil {
			if e2 := syscall.Unmount(m.dir, syscall.MNT_DETACH); e2 != nil {
				err = fmt.Errorf("unmount %s: %v: %s", m.dir, e, out)
			}
		}
	})
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		if err == nil {
			err = fmt.Errorf("unmount %s: serving did not end", m.dir)
		}
	}
	m.loc.Close()
	return err
}

// Done is closed when serving has ended (e.g. an external umount).
func (m *Mounted) Done() <-chan struct{} { return m.done }

// errno maps an sdk error to the errno a file operation answers.
func errno(err error) error {
	var (
		en     fuse.Errno
		sysErr syscall.Errno
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &en):
		return en
	case errors.As(err, &sysErr):
		// The errno the container's filesystem gave (protocol.Error).
		return fuse.Errno(sysErr)
	case errors.Is(err, sdk.ErrNotFound):
		return fuse.Errno(syscall.ENOENT)
	case errors.Is(err, sdk.ErrExists):
		return fuse.Errno(syscall.EEXIST)
	case errors.Is(err, sdk.ErrBusy):
		return fuse.Errno(syscall.EBUSY)
	case errors.Is(err, sdk.ErrInvalid):
		return fuse.Errno(syscall.EINVAL)
	case errors.Is(err, sdk.ErrPermission):
		return fuse.Errno(syscall.EACCES)
	case errors.Is(err, sdk.ErrNotEmpty):
		return fuse.Errno(syscall.ENOTEMPTY)
	case errors.Is(err, sdk.ErrNotDir):
		return fuse.Errno(syscall.ENOTDIR)
	case errors.Is(err, sdk.ErrIsDir):
		return fuse.Errno(syscall.EISDIR)
	case errors.Is(err, sdk.ErrLimit):
		return fuse.Errno(syscall.EDQUOT)
	case errors.Is(err, sdk.ErrNoSpace):
		return fuse.Errno(syscall.ENOSPC)
	case errors.Is(err, sdk.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return fuse.Errno(syscall.EIO)
	case errors.Is(err, errNotSup):
		return fuse.Errno(syscall.ENOTSUP)
	}
	if l := eioLog.Load(); l != nil {
		l.Warn("location call failed (EIO)", "err", err)
	}
	return fuse.Errno(syscall.EIO)
}

// eioLog receives the reasons of errors answered as EIO.
var eioLog atomic.Pointer[slog.Logger]

var errNotSup = errors.New("not supported yet")

// failf makes an error carrying a reason and an errno.
func failf(e syscall.Errno, format string, args ...any) error {
	return &reasonErr{errno: e, msg: fmt.Sprintf(format, args...)}
}

type reasonErr struct {
	errno syscall.Errno
	msg   string
}

func (r *reasonErr) Error() string     { return r.msg }
func (r *reasonErr) Errno() fuse.Errno { return fuse.Errno(r.errno) }
func (r *reasonErr) As(target any) bool {
	if p, ok := target.(*fuse.Errno); ok {
		*p = fuse.Errno(r.errno)
		return true
	}
	return false
}

// callCtx derives the context of a location call from a request context.
func callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	countCall(ctx)
	return context.WithTimeout(ctx, timeoutOf(ctx))
}

// timeoutOf is the mount's call timeout, from a request context.
func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(timeoutKey{}).(time.Duration); ok {
		return d
	}
	return DefaultCallTimeout
}

var uid, gid = uint32(os.Getuid()), uint32(os.Getgid())

func dirAttr(a *fuse.Attr, mode os.FileMode) {
	a.Mode = os.ModeDir | mode
	a.Valid = 0
	a.Uid, a.Gid = uid, gid
}

func fileAttr(a *fuse.Attr, mode os.FileMode, size int) {
	a.Mode = mode
	a.Size = uint64(size)
	a.Valid = 0
	a.Uid, a.Gid = uid, gid
}

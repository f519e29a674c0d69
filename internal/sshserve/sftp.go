package sshserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"github.com/tffs/tffs/sdk"
)

// callTimeout bounds one sftp call on the container.
const callTimeout = 30 * time.Second

// fs maps sftp requests onto the container's file calls.
type fs struct {
	ctx context.Context
	ctr *sdk.Container

	mu      sync.Mutex
	writers map[string]map[*writer]bool // open write handles by path
}

func handlers(ctx context.Context, ctr *sdk.Container) sftp.Handlers {
	f := &fs{ctx: ctx, ctr: ctr, writers: map[string]map[*writer]bool{}}
	return sftp.Handlers{FileGet: f, FilePut: f, FileCmd: f, FileList: f}
}

// errno maps the SDK's errors to the ones pkg/sftp reports with a status.
func errno(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sdk.ErrNotFound): // pkg/sftp tests with os.IsNotExist, which unwraps only PathError and kin
		return &os.PathError{Op: "tffs", Path: err.Error(), Err: syscall.ENOENT}
	case errors.Is(err, sdk.ErrPermission):
		return &os.PathError{Op: "tffs", Path: err.Error(), Err: syscall.EACCES}
	}
	var en syscall.Errno // the container's errno: pkg/sftp maps only an unwrapped one
	if errors.As(err, &en) {
		return &os.PathError{Op: "tffs", Path: err.Error(), Err: en}
	}
	return err
}

// Fileread serves reads at any offset: a read that continues the last one
// continues its stream; any other opens a stream at its offset.
func (f *fs) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	fi, err := f.ctr.Stat(f.ctx, r.Filepath)
	if err != nil {
		return nil, errno(err)
	}
	if os.FileMode(fi.Mode).IsDir() {
		return nil, fmt.Errorf("%s is a directory", r.Filepath)
	}
	return &reader{fs: f, path: r.Filepath}, nil
}

type reader struct {
	fs   *fs
	path string
	mu   sync.Mutex
	rc   io.ReadCloser
	buf  []byte // the bytes just read: [pos-len(buf), pos)
	pos  int64  // the stream's position
	eof  bool
}

// window is how far apart the reads a client keeps in flight may be
// (sftp clients ask for many chunks at once, served out of order) and
// still be served from one stream.
const window = 8 << 20

func (rd *reader) ReadAt(p []byte, off int64) (int, error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	start := rd.pos - int64(len(rd.buf))
	if rd.rc == nil || off < start || off > rd.pos+window {
		if err := rd.open(off); err != nil {
			return 0, err
		}
		start = off
	}
	// Read forward until the stream is past the end of the request.
	for !rd.eof && rd.pos < off+int64(len(p)) {
		if len(rd.buf) > 2*window { // keep the last window of bytes
			drop := len(rd.buf) - window
			rd.buf = append(rd.buf[:0], rd.buf[drop:]...)
			start += int64(drop)
			if off < start {
				if err := rd.open(off); err != nil {
					return 0, err
				}
				start = off
			}
		}
		chunk := make([]byte, 256<<10)
		n, err := io.ReadFull(rd.rc, chunk)
		rd.buf = append(rd.buf, chunk[:n]...)
		rd.pos += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			rd.eof = true
		} else if err != nil {
			return 0, errno(err)
		}
	}
	if off >= rd.pos {
		return 0, io.EOF
	}
	n := copy(p, rd.buf[off-start:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// open starts a new stream at off.
func (rd *reader) open(off int64) error {
	if rd.rc != nil {
		rd.rc.Close()
		rd.rc = nil
	}
	rc, _, err := rd.fs.ctr.FetchRange(rd.fs.ctx, rd.path, off, 0)
	if err != nil {
		return errno(err)
	}
	rd.rc, rd.buf, rd.pos, rd.eof = rc, rd.buf[:0], off, false
	return nil
}

func (rd *reader) Close() error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.rc != nil {
		rd.rc.Close()
		rd.rc = nil
	}
	return nil
}

// Filecmd serves rename, remove, rmdir, mkdir and setstat (chmod, chown,
// truncate, utimes through the container's setattr call).
func (f *fs) Filecmd(r *sftp.Request) error {
	ctx, cancel := context.WithTimeout(f.ctx, callTimeout)
	defer cancel()
	switch r.Method {
	case "Rename", "PosixRename":
		return errno(f.ctr.Rename(ctx, r.Filepath, r.Target))
	case "Remove", "Rmdir":
		return errno(f.ctr.Remove(ctx, r.Filepath, false))
	case "Mkdir":
		return errno(f.ctr.Mkdir(ctx, r.Filepath, 0o755))
	case "Setstat":
		return f.setstat(ctx, r)
	}
	return sftp.ErrSSHFxOpUnsupported
}

// Filelist serves List, Stat, Lstat and Readlink.
func (f *fs) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	ctx, cancel := context.WithTimeout(f.ctx, callTimeout)
	defer cancel()
	switch r.Method {
	case "List":
		list, err := f.ctr.List(ctx, r.Filepath)
		if err != nil {
			return nil, errno(err)
		}
		out := make(lister, len(list))
		for i, fi := range list {
			out[i] = fileInfo{fi}
		}
		return out, nil
	case "Stat", "Lstat":
		fi, err := f.ctr.Stat(ctx, r.Filepath)
		if err != nil {
			return nil, errno(err)
		}
		if fi.Name == "" {
			fi.Name = path.Base(r.Filepath)
		}
		return lister{fileInfo{fi}}, nil
	case "Readlink":
		fi, err := f.ctr.Stat(ctx, r.Filepath)
		if err != nil {
			return nil, errno(err)
		}
		if fi.Link == "" {
			return nil, fmt.Errorf("%s is not a symlink", r.Filepath)
		}
		fi.Name = fi.Link
		return lister{fileInfo{fi}}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

type lister []os.FileInfo

func (l lister) ListAt(dst []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// fileInfo is an sdk.FileInfo as an os.FileInfo.
type fileInfo struct{ fi sdk.FileInfo }

func (i fileInfo) Name() string       { return i.fi.Name }
func (i fileInfo) Size() int64        { return i.fi.Size }
func (i fileInfo) Mode() os.FileMode  { return os.FileMode(i.fi.Mode) }
func (i fileInfo) ModTime() time.Time { return i.fi.ModTime }
func (i fileInfo) IsDir() bool        { return i.Mode().IsDir() }

// Sys gives pkg/sftp the owner and access time, when the node sent them
// (chown in OpenSSH's sftp needs the owner).
func (i fileInfo) Sys() any {
	if !i.fi.Full {
		return nil
	}
	return &syscall.Stat_t{Uid: i.fi.UID, Gid: i.fi.GID, Atim: syscall.NsecToTimespec(i.fi.Atime)}
}

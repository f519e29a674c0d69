package sshserve

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// maxPending bounds the bytes of out-of-order writes held for a file.
const maxPending = 64 << 20

// Filewrite serves writes at any offset. A file opened to be written anew
// (truncated, or created) from offset 0 on, as put, scp and rsync's
// temporary files are, streams into the container as its bytes come
// (out-of-order writes held until their turn) and replaces the old file;
// a write behind the stream, one too far ahead, a setstat of the file or
// the handle's close end the stream, and the handle goes on with ranged
// writes. A file opened without truncation (a resumed put, a seek-write)
// or for appending takes ranged writes from the start. A write lands at
// the offset the client gave even with the append flag: OpenSSH's reput
// opens with it and sends the offsets at the file's end, pipelined, and
// pkg/sftp serves them out of order.
func (f *fs) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	ctx, cancel := context.WithTimeout(f.ctx, callTimeout)
	defer cancel()
	pf := r.Pflags()
	mode := os.FileMode(0o644)
	fi, err := f.ctr.Stat(ctx, r.Filepath)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, sdk.ErrNotFound):
		return nil, errno(err)
	case !exists && !pf.Creat:
		return nil, errno(err)
	case exists && pf.Creat && pf.Excl:
		return nil, &os.PathError{Op: "open", Path: r.Filepath, Err: syscall.EEXIST}
	case exists:
		mode = os.FileMode(fi.Mode).Perm()
	}
	if a := r.Attributes(); a != nil && r.AttrFlags().Permissions {
		mode = a.FileMode().Perm()
	}
	w := &writer{pending: map[int64][]byte{}}
	w.writeAt = func(p []byte, off int64) error {
		wctx, cancel := context.WithTimeout(f.ctx, callTimeout)
		defer cancel()
		_, _, err := f.ctr.WriteAt(wctx, r.Filepath, off, p, false, false)
		return errno(err)
	}
	w.release = func() { f.forget(r.Filepath, w) }
	if !pf.Append && (pf.Trunc || !exists) {
		pr, pw := io.Pipe()
		w.pw, w.done, w.streaming = pw, make(chan error, 1), true
		go func() {
			err := f.ctr.PutReader(f.ctx, r.Filepath, pr, mode)
			pr.CloseWithError(err)
			w.done <- err
		}()
	} else {
		_, err := f.ctr.Make(ctx, sdk.MakeRequest{Path: r.Filepath, Kind: protocol.MakeFile, Mode: uint32(mode), Trunc: pf.Trunc})
		if err != nil {
			return nil, errno(err)
		}
	}
	f.mu.Lock()
	if f.writers[r.Filepath] == nil {
		f.writers[r.Filepath] = map[*writer]bool{}
	}
	f.writers[r.Filepath][w] = true
	f.mu.Unlock()
	return w, nil
}

// forget drops a closed write handle.
func (f *fs) forget(path string, w *writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.writers[path], w)
	if len(f.writers[path]) == 0 {
		delete(f.writers, path)
	}
}

// settle ends the streams of the write handles open on path, so that the
// file is in place before its attributes change.
func (f *fs) settle(path string) error {
	f.mu.Lock()
	var ws []*writer
	for w := range f.writers[path] {
		ws = append(ws, w)
	}
	f.mu.Unlock()
	for _, w := range ws {
		w.mu.Lock()
		err := w.endStream()
		w.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// setstat changes what the request's attributes say: permissions, owner,
// size and times.
func (f *fs) setstat(ctx context.Context, r *sftp.Request) error {
	a, fl := r.Attributes(), r.AttrFlags()
	req := sdk.SetattrRequest{Path: r.Filepath}
	if fl.Permissions {
		req.Valid |= sdk.SetMode
		req.Mode = a.Mode & 0o7777
	}
	if fl.UidGid {
		req.Valid |= sdk.SetUID | sdk.SetGID
		req.UID, req.GID = a.UID, a.GID
	}
	if fl.Size {
		req.Valid |= sdk.SetSize
		req.Size = int64(a.Size)
	}
	if fl.Acmodtime {
		req.Valid |= sdk.SetAtime | sdk.SetMtime
		req.Atime, req.Mtime = int64(a.Atime)*1e9, int64(a.Mtime)*1e9
	}
	if req.Valid == 0 {
		return nil
	}
	if err := f.settle(r.Filepath); err != nil {
		return err
	}
	_, err := f.ctr.Setattr(ctx, req)
	return errno(err)
}

// writer is one write handle (see Filewrite).
type writer struct {
	mu        sync.Mutex
	streaming bool
	pw        *io.PipeWriter
	done      chan error
	pos       int64
	pending   map[int64][]byte
	held      int
	err       error
	closed    bool
	writeAt   func(p []byte, off int64) error // a ranged write into the file
	release   func()                          // called once at close
}

func (w *writer) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.streaming {
		switch {
		case off == w.pos:
			if err := w.write(p); err != nil {
				return 0, err
			}
			for {
				next, ok := w.pending[w.pos]
				if !ok {
					return len(p), nil
				}
				delete(w.pending, w.pos)
				w.held -= len(next)
				if err := w.write(next); err != nil {
					return 0, err
				}
			}
		case off > w.pos && w.held+len(p) <= maxPending:
			w.pending[off] = append([]byte(nil), p...)
			w.held += len(p)
			return len(p), nil
		}
		if err := w.endStream(); err != nil {
			return 0, err
		}
	}
	if err := w.ranged(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ranged writes p at off with ranged write calls.
func (w *writer) ranged(p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), protocol.MaxIOSize)
		if err := w.writeAt(p[:n], off); err != nil {
			w.err = err
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// endStream ends the stream, waits for the file to be in place and writes
// the held out-of-order bytes with ranged writes. Called with w.mu held.
func (w *writer) endStream() error {
	if !w.streaming {
		return w.err
	}
	w.streaming = false
	if w.err != nil {
		w.pw.CloseWithError(w.err)
	} else {
		w.pw.Close()
	}
	if err := <-w.done; err != nil && w.err == nil {
		w.err = errno(err)
	}
	if w.err != nil {
		return w.err
	}
	for off, p := range w.pending {
		if err := w.ranged(p, off); err != nil {
			return err
		}
	}
	w.pending, w.held = nil, 0
	return nil
}

func (w *writer) write(p []byte) error {
	n, err := w.pw.Write(p)
	w.pos += int64(n)
	if err != nil {
		w.err = err
	}
	return err
}

func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.release != nil {
		defer w.release()
	}
	if err := w.endStream(); err != nil {
		return err
	}
	if w.err != nil {
		return w.err
	}
	return nil
}

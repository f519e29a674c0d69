package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tffs/tffs/protocol"
)

// FileInfo describes a file in a container. For a symlink, Link is its
// target as stored and Resolved where it leads inside the container's root
// (or the image's tree): a clean absolute path, every link on the way
// followed and ".." stopping at the root; "" if the chain loops.
type FileInfo = protocol.FileInfo

// Put writes data to path in the container (mode 0644 unless given).
func (c *Container) Put(ctx context.Context, path string, data []byte, mode ...os.FileMode) error {
	m := os.FileMode(0o644)
	if len(mode) > 0 {
		m = mode[0]
	}
	return c.PutReader(ctx, path, bytes.NewReader(data), m)
}

// PutReader streams r into path in the container, in chunks and with flow
// control: the file is never held in memory whole.
func (c *Container) PutReader(ctx context.Context, path string, r io.Reader, mode os.FileMode) error {
	l := c.loc
	id := l.newID()
	key := protocol.StreamKey{ID: id}
	snd := protocol.NewSender(id, protocol.Msg{Container: c.ID}, l.conn.Send)
	l.streams.AddSender(key, snd)
	defer l.streams.Remove(key)
	wait := l.calls.Start(ctx, l.conn.Send, protocol.OpFilePut,
		protocol.FilePutRequest{Path: path, Mode: uint32(mode.Perm()), Stream: id}, nil,
		func(m *protocol.Msg) { m.Container = c.ID })
	replied := make(chan error, 1)
	go func() {
		err := wait()
		if err != nil {
			// Tell the node too (end of stream with the error), so a put
			// given up on fails there and leaves no temporary file; a
			// no-op when the stream already ended or the node aborted it.
			snd.Close(err)
			snd.Abort(err)
		}
		replied <- err
	}()
	werr := sendAll(ctx, snd, r, nil)
	err := <-replied
	if err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", path, err)
	}
	return nil
}

// Fetch reads a whole file from the container.
func (c *Container) Fetch(ctx context.Context, path string) ([]byte, error) {
	rc, _, err := c.FetchReader(ctx, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// FetchReader streams a file from the container; close the reader when
// done (closing it early stops the node sending the rest).
func (c *Container) FetchReader(ctx context.Context, path string) (io.ReadCloser, FileInfo, error) {
	return c.FetchRange(ctx, path, 0, 0)
}

// FetchRange streams the part of a file that starts at byte offset: at
// most length bytes when length is above 0, else up to the end. Only that
// part crosses the network. The FileInfo describes the whole file; close
// the reader when done.
func (c *Container) FetchRange(ctx context.Context, path string, offset, length int64) (io.ReadCloser, FileInfo, error) {
	if offset < 0 || length < 0 {
		return nil, FileInfo{}, fmt.Errorf("fetch %s: negative offset or length: %w", path, ErrInvalid)
	}
	rc, fi, err := c.loc.fetchStream(ctx, c.ID, protocol.OpFileFetch, func(stream uint64) any {
		return protocol.FileFetchRequest{Path: path, Stream: stream, Offset: offset, Length: length}
	})
	if err != nil {
		return nil, fi, fmt.Errorf("fetch %s: %w", path, err)
	}
	return rc, fi, nil
}

// fetchStream asks for a file to be streamed to a new receiver (about
// container cid, or the master when ""): the request, made by req from the
// stream's id, is answered with the file's FileInfo, then its bytes follow.
func (l *Location) fetchStream(ctx context.Context, cid, op string, req func(stream uint64) any) (io.ReadCloser, FileInfo, error) {
	id := l.newID()
	r := l.receiver(id, cid)
	var fi FileInfo
	if err := l.call(ctx, op, req(id), &fi, cid); err != nil {
		l.streams.Remove(protocol.StreamKey{ID: id})
		return nil, fi, err
	}
	return &fetchReader{r: r, ctx: ctx, release: func() { l.streams.Remove(protocol.StreamKey{ID: id}) }}, fi, nil
}

type fetchReader struct {
	r       *protocol.Receiver
	ctx     context.Context
	release func()
}

func (f *fetchReader) Read(p []byte) (int, error) {
	n, err := f.r.ReadContext(f.ctx, p)
	if err != nil && f.ctx.Err() != nil && errors.Is(err, f.ctx.Err()) {
		err = fmt.Errorf("fetch: %w: %w", err, ErrTimeout) // like every call whose context ended
	}
	return n, err
}

// Close stops reading: unless the stream ended, the sender is told to
// stop (it frees its window and reads no further), and chunks still on
// the way are dropped.
func (f *fetchReader) Close() error {
	f.r.Abort()
	f.release()
	return nil
}

// Stat describes path (without following a final symlink).
func (c *Container) Stat(ctx context.Context, path string) (FileInfo, error) {
	var fi FileInfo
	err := c.loc.call(ctx, protocol.OpFileStat, protocol.PathRequest{Path: path}, &fi, c.ID)
	return fi, err
}

// List lists a directory in the container.
func (c *Container) List(ctx context.Context, dir string) ([]FileInfo, error) {
	var fl protocol.FileList
	err := c.loc.call(ctx, protocol.OpFileList, protocol.PathRequest{Path: dir}, &fl, c.ID)
	return fl.Files, err
}

// Mkdir makes a directory (and its parents) in the container.
func (c *Container) Mkdir(ctx context.Context, dir string, mode os.FileMode) error {
	return c.loc.call(ctx, protocol.OpFileMkdir, protocol.PathRequest{Path: dir, Mode: uint32(mode.Perm())}, nil, c.ID)
}

// Remove deletes a file or an empty directory (any directory when recursive).
func (c *Container) Remove(ctx context.Context, path string, recursive bool) error {
	return c.loc.call(ctx, protocol.OpFileRemove, protocol.PathRequest{Path: path, Recursive: recursive}, nil, c.ID)
}

// Rename moves a path within the container.
func (c *Container) Rename(ctx context.Context, from, to string) error {
	return c.loc.call(ctx, protocol.OpFileRename, protocol.RenameRequest{From: from, To: to}, nil, c.ID)
}

// sendAll copies r into a stream and ends it; onSent, if not nil, is told
// of every chunk that went out. A read error ends the stream with that error.
func sendAll(ctx context.Context, snd *protocol.Sender, r io.Reader, onSent func(int)) error {
	buf := make([]byte, protocol.ChunkSize)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := snd.WriteContext(ctx, buf[:n]); err != nil {
				return err
			}
			if onSent != nil {
				onSent(n)
			}
		}
		if rerr == io.EOF {
			return snd.Close(nil)
		}
		if rerr != nil {
			snd.Close(rerr)
			return rerr
		}
	}
}

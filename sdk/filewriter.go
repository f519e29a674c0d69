package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tffs/tffs/protocol"
)

// FileWriter writes into an existing regular file of a container, in
// place, from an offset on: the bytes of its writes travel on one
// flow-controlled stream, as Put's do, and the node writes them into the
// file in order. Nothing else of the file changes (no truncation, no
// rename), so it suits a file that other writers and readers have open.
// A write returns once its bytes are on their way (it waits while the
// stream's window is full); Close waits until every byte is in the file
// and reports the first failure. Make one with Container.OpenWriter.
type FileWriter struct {
	path    string
	snd     *protocol.Sender
	release func()
	cancel  context.CancelFunc
	replied chan struct{} // closed once the node answered (rep, err set)
	rep     protocol.WriteReply
	err     error

	mu     sync.Mutex
	off    int64 // where the next byte goes
	closed bool
}

// OpenWriter starts writing into the regular file path (which must exist)
// at offset. The node checks the path as for WriteAt: a directory, a
// special file or a path leaving the container fails the first write or
// Close. ctx bounds nothing but the start; each write takes its own.
func (c *Container) OpenWriter(ctx context.Context, path string, offset int64) (*FileWriter, error) {
	if offset < 0 {
		return nil, fmt.Errorf("write %s: negative offset: %w", path, ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := c.loc
	id := l.newID()
	key := protocol.StreamKey{ID: id}
	snd := protocol.NewSender(id, protocol.Msg{Container: c.ID}, l.conn.Send)
	l.streams.AddSender(key, snd)
	// The call lasts as long as the stream: it ends with the node's reply
	// (or the link's failure), or when the writer is abandoned.
	cctx, cancel := context.WithCancel(context.Background())
	w := &FileWriter{path: path, snd: snd, cancel: cancel, off: offset, replied: make(chan struct{}),
		release: func() { l.streams.Remove(key) }}
	wait := l.calls.Start(cctx, l.conn.Send, protocol.OpFilePut,
		protocol.FilePutRequest{Path: path, Stream: id, Offset: offset, InPlace: true}, &w.rep,
		func(m *protocol.Msg) { m.Container = c.ID })
	go func() {
		err := wait()
		if err != nil {
			err = fmt.Errorf("write %s: %w", path, err)
			// Writes still to come fail with the node's reason.
			snd.Abort(err)
		}
		w.err = err
		close(w.replied)
	}()
	return w, nil
}

// Offset is where the next write's bytes go.
func (w *FileWriter) Offset() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.off
}

// Write sends p, to be written at Offset; it waits (up to ctx's end) while
// the stream's window is full. It fails with the node's reason once the
// node gave up (the stream is then of no further use: Close reports the
// same).
func (w *FileWriter) Write(ctx context.Context, p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("write %s: writer closed: %w", w.path, ErrInvalid)
	}
	n, err := w.snd.WriteContext(ctx, p)
	w.off += int64(n)
	if err != nil {
		select {
		case <-w.replied:
			if w.err != nil {
				return n, w.err
			}
		default:
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			err = fmt.Errorf("write %s: %w: %w", w.path, err, ErrTimeout)
		}
		return n, err
	}
	return n, nil
}

// Close ends the stream and waits (up to ctx's end) for the node to have
// written every byte; it returns the file's size after them. After a
// failure or ctx's end the stream is abandoned: bytes not yet written may
// or may not be in the file.
func (w *FileWriter) Close(ctx context.Context) (int64, error) {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		_ = w.snd.Close(nil)
	}
	defer w.release()
	select {
	case <-w.replied:
	case <-ctx.Done():
		w.snd.Abort(ctx.Err())
		w.cancel()
		<-w.replied
		return 0, fmt.Errorf("write %s: %w: %w", w.path, ctx.Err(), ErrTimeout)
	}
	w.cancel()
	if w.err != nil {
		return 0, w.err
	}
	return w.rep.Size, nil
}

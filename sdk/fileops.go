package sdk

import (
	"context"
	"fmt"

	"github.com/tffs/tffs/protocol"
)

// File calls that make a container's files behave as a local filesystem
// (the mount's calls). Each fails with the errno the container's
// filesystem gave, reachable with errors.As(err, &syscall.Errno), besides
// the ErrX class.

// SetattrRequest says which attributes Setattr changes; see
// protocol.SetattrRequest (Valid holds protocol.SetMode, SetUID…).
type SetattrRequest = protocol.SetattrRequest

// MakeRequest says what Make makes; see protocol.MakeRequest.
type MakeRequest = protocol.MakeRequest

// Statfs describes a container's filesystem.
type Statfs = protocol.Statfs

// Setattr changes the mode, owner, group, size or times of the file at
// req.Path itself (a final symlink is not followed) and returns the
// file's information after the change.
func (c *Container) Setattr(ctx context.Context, req SetattrRequest) (FileInfo, error) {
	var fi FileInfo
	err := c.loc.call(ctx, protocol.OpFileSetattr, req, &fi, c.ID)
	return fi, err
}

// Make makes a regular file, symlink, hard link, FIFO or socket in the
// container and returns its information.
func (c *Container) Make(ctx context.Context, req MakeRequest) (FileInfo, error) {
	var fi FileInfo
	err := c.loc.call(ctx, protocol.OpFileMake, req, &fi, c.ID)
	return fi, err
}

// ReadAt reads at most size bytes (up to protocol.MaxIOSize) at offset of
// a regular file in the container; fewer only at its end.
func (c *Container) ReadAt(ctx context.Context, path string, offset int64, size int) ([]byte, error) {
	var rep protocol.ReadReply
	err := c.loc.call(ctx, protocol.OpFileRead, protocol.ReadRequest{Path: path, Offset: offset, Size: size}, &rep, c.ID)
	return rep.Data, err
}

// WriteAt writes data (up to protocol.MaxIOSize bytes) at offset of a
// regular file in the container, or at its end with appendMode; the bytes
// are in the file when it returns (on the node's disk too with sync). It
// returns the bytes written and the file's size after.
func (c *Container) WriteAt(ctx context.Context, path string, offset int64, data []byte, appendMode, sync bool) (int, int64, error) {
	var rep protocol.WriteReply
	err := c.loc.call(ctx, protocol.OpFileWrite, protocol.WriteRequest{Path: path, Offset: offset, Data: data, Append: appendMode, Sync: sync}, &rep, c.ID)
	return rep.N, rep.Size, err
}

// Sync fsyncs a regular file or directory in the container.
func (c *Container) Sync(ctx context.Context, path string) error {
	return c.loc.call(ctx, protocol.OpFileSync, protocol.PathRequest{Path: path}, nil, c.ID)
}

// StatFS describes the filesystem holding path in the container.
func (c *Container) StatFS(ctx context.Context, path string) (Statfs, error) {
	var st Statfs
	err := c.loc.call(ctx, protocol.OpFileStatfs, protocol.PathRequest{Path: path}, &st, c.ID)
	return st, err
}

// Setattr fields (SetattrRequest.Valid).
const (
	SetMode  = protocol.SetMode
	SetUID   = protocol.SetUID
	SetGID   = protocol.SetGID
	SetSize  = protocol.SetSize
	SetAtime = protocol.SetAtime
	SetMtime = protocol.SetMtime
)

// Kinds of file Make makes (MakeRequest.Kind).
const (
	MakeFile    = protocol.MakeFile
	MakeSymlink = protocol.MakeSymlink
	MakeLink    = protocol.MakeLink
	MakeFIFO    = protocol.MakeFIFO
	MakeSocket  = protocol.MakeSocket
	MakeDir     = protocol.MakeDir
)

// MaxIOSize bounds the data of one ReadAt or WriteAt.
const MaxIOSize = protocol.MaxIOSize

// Held makes the container without starting it: files can be put into it
// (Put, Mkdir, Setattr…), then Start starts it.
func Held() SpawnOption { return func(c *spawnConfig) { c.req.Hold = true } }

// Start starts a container spawned with Held; its output streams are this
// first boot's.
func (c *Container) Start(ctx context.Context) error {
	c.mu.Lock()
	held := c.boot
	c.mu.Unlock()
	if err := c.reboot(ctx, protocol.OpStart); err != nil {
		return err
	}
	if held != nil && held.num == 0 {
		// The node never used the held boot's streams.
		c.dropStreams(held.streams[0], held.streams[1], fmt.Errorf("start %s: the held boot has no output: %w", c.Name, ErrBusy))
	}
	return nil
}

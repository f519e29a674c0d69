package node

import (
	"context"
	"fmt"
	"time"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

// fileOp2 carries out the file operations a mount needs beyond put, fetch
// and the path calls: setattr, make, ranged read and write, sync, statfs.
func (n *Node) fileOp2(ctx context.Context, c *ctr, m *protocol.Msg) (any, error) {
	switch m.Op {
	case protocol.OpFileSetattr:
		var req protocol.SetattrRequest
		if err := decodePath(m, &req, &req.Path); err != nil {
			return nil, err
		}
		v := req.Valid
		fi, err := c.rc.Setattr(ctx, req.Path, runtime.SetAttr{
			SetMode: v&protocol.SetMode != 0, SetUID: v&protocol.SetUID != 0, SetGID: v&protocol.SetGID != 0,
			SetSize: v&protocol.SetSize != 0, SetAtime: v&protocol.SetAtime != 0, SetMtime: v&protocol.SetMtime != 0,
			Mode: req.Mode, UID: req.UID, GID: req.GID, Size: req.Size,
			Atime: time.Unix(0, req.Atime), Mtime: time.Unix(0, req.Mtime), AtimeNow: req.AtimeNow, MtimeNow: req.MtimeNow,
		})
		return wireInfo(fi), err
	case protocol.OpFileMake:
		var req protocol.MakeRequest
		if err := decodePath(m, &req, &req.Path); err != nil {
			return nil, err
		}
		if req.Kind == protocol.MakeLink {
			if err := checkPath(req.Target); err != nil {
				return nil, err
			}
		}
		fi, err := c.rc.Make(ctx, req.Path, runtime.MakeSpec{Kind: req.Kind, Mode: req.Mode, Target: req.Target, Excl: req.Excl, Trunc: req.Trunc})
		return wireInfo(fi), err
	case protocol.OpFileRead:
		var req protocol.ReadRequest
		if err := decodePath(m, &req, &req.Path); err != nil {
			return nil, err
		}
		if req.Size > protocol.MaxIOSize {
			return nil, fmt.Errorf("read of %d bytes: at most %d: %w", req.Size, protocol.MaxIOSize, protocol.ErrInvalid)
		}
		data, err := c.rc.ReadAt(ctx, req.Path, req.Offset, req.Size)
		n.fetchSent.Add(int64(len(data)))
		return protocol.ReadReply{Data: data}, err
	case protocol.OpFileWrite:
		var req protocol.WriteRequest
		if err := decodePath(m, &req, &req.Path); err != nil {
			return nil, err
		}
		if len(req.Data) > protocol.MaxIOSize {
			return nil, fmt.Errorf("write of %d bytes: at most %d: %w", len(req.Data), protocol.MaxIOSize, protocol.ErrInvalid)
		}
		k, size, err := c.rc.WriteAt(ctx, req.Path, req.Offset, req.Data, req.Append, req.Sync)
		return protocol.WriteReply{N: k, Size: size}, err
	case protocol.OpFileSync:
		var req protocol.PathRequest
		if err := decodePath(m, &req, &req.Path); err != nil {
			return nil, err
		}
		return protocol.Empty{}, c.rc.Sync(ctx, req.Path)
	case protocol.OpFileStatfs:
		var req protocol.PathRequest
		if err := decodePath(m, &req, &req.Path); err != nil {
			return nil, err
		}
		st, err := c.rc.Statfs(ctx, req.Path)
		return protocol.Statfs{
			Blocks: st.Blocks, Bfree: st.Bfree, Bavail: st.Bavail, Files: st.Files, Ffree: st.Ffree,
			Bsize: uint32(st.Bsize), Namelen: uint32(st.Namelen), Frsize: uint32(st.Frsize),
		}, err
	}
	return nil, fmt.Errorf("unknown operation %q: %w", m.Op, protocol.ErrInvalid)
}

// decodePath decodes m's body into req and checks its path p.
func decodePath(m *protocol.Msg, req any, p *string) error {
	if err := m.DecodeBody(req); err != nil {
		return err
	}
	return checkPath(*p)
}

// wireExtra fills the stat fields beyond the basic ones.
func wireExtra(out *protocol.FileInfo, fi runtime.FileInfo) {
	e := fi.Extra
	out.Nlink, out.Blocks, out.UID, out.GID = e.Nlink, e.Blocks, e.UID, e.GID
	out.Atime, out.Ctime, out.Ino, out.Rdev = e.Atime.UnixNano(), e.Ctime.UnixNano(), e.Ino, e.Rdev
	out.Mtime = fi.ModTime.UnixNano()
	out.Full = e.Nlink != 0
}

// startHeld starts a container spawned with Hold (its first boot).
func (n *Node) startHeld(ctx context.Context, c *ctr, m *protocol.Msg) (any, error) {
	var req protocol.RebootRequest
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	c.mu.Lock()
	started := c.boot != 0
	c.mu.Unlock()
	if started {
		return nil, fmt.Errorf("start %s: started already: %w", c.id, protocol.ErrBusy)
	}
	boot, err := n.startBoot(ctx, c, req.Stdout, req.Stderr, c.rc.Start)
	if err != nil {
		return nil, err
	}
	n.log.Info("container started", "container", c.id)
	return protocol.BootReply{Boot: boot}, nil
}

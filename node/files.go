package node

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

func wireInfo(fi runtime.FileInfo) protocol.FileInfo {
	out := protocol.FileInfo{Name: fi.Name, Size: fi.Size, Mode: uint32(fi.Mode), ModTime: fi.ModTime, Link: fi.Link, Resolved: fi.Resolved}
	wireExtra(&out, fi)
	return out
}

func (n *Node) filePut(ctx context.Context, c *ctr, m *protocol.Msg) (any, error) {
	var req protocol.FilePutRequest
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	if err := checkPath(req.Path); err != nil {
		return nil, err
	}
	key := protocol.StreamKey{Scope: c.session, ID: req.Stream}
	recv := n.inbound(c.session, req.Stream)
	if recv == nil {
		return nil, fmt.Errorf("put stream %d: %w", req.Stream, protocol.ErrInvalid)
	}
	defer n.streams.Remove(key)
	if req.InPlace {
		k, size, err := c.rc.WriteFrom(ctx, req.Path, req.Offset, recv)
		if err != nil {
			recv.Abort()
		}
		return protocol.WriteReply{N: int(k), Size: size}, err
	}
	err := c.rc.Put(ctx, req.Path, os.FileMode(req.Mode), recv)
	if err != nil {
		// The client stops sending at once; the reply says why.
		recv.Abort()
	}
	return protocol.Empty{}, err
}

// fileFetch answers with the file's info; the data follows on the stream
// once the reply is on its way (after is run by the caller then).
func (n *Node) fileFetch(ctx context.Context, c *ctr, m *protocol.Msg) (any, func(), error) {
	var req protocol.FileFetchRequest
	if err := m.DecodeBody(&req); err != nil {
		return nil, nil, err
	}
	if err := checkPath(req.Path); err != nil {
		return nil, nil, err
	}
	rd, fi, err := c.rc.FetchRange(ctx, req.Path, req.Offset, req.Length)
	if err != nil {
		return nil, nil, err
	}
	snd := n.output(c.session, req.Stream)
	after := func() {
		defer rd.Close()
		if snd == nil {
			return
		}
		defer n.streams.Remove(protocol.StreamKey{Scope: c.session, ID: req.Stream})
		// An abort from the reader fails the copy at once: the file is
		// read no further.
		sent, err := io.Copy(snd, rd)
		n.fetchSent.Add(sent)
		snd.Close(err)
	}
	return wireInfo(fi), after, nil
}

func (n *Node) fileOp(ctx context.Context, c *ctr, m *protocol.Msg) (any, error) {
	if m.Op == protocol.OpFileRename {
		var req protocol.RenameRequest
		if err := m.DecodeBody(&req); err != nil {
			return nil, err
		}
		if err := checkPath(req.From); err != nil {
			return nil, err
		}
		if err := checkPath(req.To); err != nil {
			return nil, err
		}
		return protocol.Empty{}, c.rc.Rename(ctx, req.From, req.To)
	}
	var req protocol.PathRequest
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	if err := checkPath(req.Path); err != nil {
		return nil, err
	}
	switch m.Op {
	case protocol.OpFileStat:
		fi, err := c.rc.Stat(ctx, req.Path)
		return wireInfo(fi), err
	case protocol.OpFileList:
		list, err := c.rc.List(ctx, req.Path)
		var out protocol.FileList
		for _, fi := range list {
			out.Files = append(out.Files, wireInfo(fi))
		}
		return out, err
	case protocol.OpFileMkdir:
		mode := os.FileMode(req.Mode)
		if mode == 0 {
			mode = 0o755
		}
		return protocol.Empty{}, c.rc.Mkdir(ctx, req.Path, mode)
	default: // remove
		return protocol.Empty{}, c.rc.Remove(ctx, req.Path, req.Recursive)
	}
}

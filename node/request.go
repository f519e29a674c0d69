package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tffs/tffs/protocol"
)

// request carries out one request from the master, received at recv, and
// returns the reply body.
func (n *Node) request(ctx context.Context, m *protocol.Msg, recv time.Time) (any, error) {
	if strings.HasPrefix(m.Op, "volume.") {
		return n.volumeRequest(ctx, m)
	}
	switch m.Op {
	case protocol.OpSessionEnd, protocol.OpSessionStreamsReset, protocol.OpGatewayDial:
		if m.Session != "" { // the master's own: a session's would reach other sessions
			return nil, fmt.Errorf("operation %q from a session: %w", m.Op, protocol.ErrPermission)
		}
	}
	switch m.Op {
	case protocol.OpSpawn:
		return n.spawn(ctx, m, recv)
	case protocol.OpGatewayDial:
		return n.gatewayDial(ctx, m)
	case protocol.OpSessionEnd:
		return n.sessionEnd(ctx, m)
	case protocol.OpSessionStreamsReset:
		var req protocol.SessionEnd
		if err := m.DecodeBody(&req); err != nil {
			return nil, err
		}
		n.streams.FailScope(req.Session, fmt.Errorf("link to the client reset: %w", protocol.ErrUnavailable))
		return protocol.Empty{}, nil
	}
	c, err := n.lookup(m)
	if err != nil {
		return nil, err
	}
	switch m.Op {
	case protocol.OpExec:
		return n.exec(ctx, c, m)
	case protocol.OpSignal:
		return n.signal(ctx, c, m)
	case protocol.OpResize:
		return n.resize(ctx, c, m)
	case protocol.OpReboot, protocol.OpReset:
		return n.reboot(ctx, c, m, m.Op == protocol.OpReset)
	case protocol.OpDestroy:
		return protocol.Empty{}, n.destroy(ctx, c, "destroyed by client")
	case protocol.OpFilePut:
		return n.filePut(ctx, c, m)
	case protocol.OpAllow, protocol.OpDisallow:
		return n.allowNet(c, m)
	case protocol.OpTunnelDial:
		return n.tunnelDial(ctx, c, m)
	case protocol.OpFileStat, protocol.OpFileList, protocol.OpFileMkdir, protocol.OpFileRemove, protocol.OpFileRename:
		return n.fileOp(ctx, c, m)
	case protocol.OpStart:
		return n.startHeld(ctx, c, m)
	case protocol.OpFileSetattr, protocol.OpFileMake, protocol.OpFileRead, protocol.OpFileWrite, protocol.OpFileSync, protocol.OpFileStatfs:
		return n.fileOp2(ctx, c, m)
	}
	return nil, fmt.Errorf("unknown operation %q: %w", m.Op, protocol.ErrInvalid)
}

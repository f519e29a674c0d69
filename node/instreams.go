package node

import "github.com/tffs/tffs/protocol"

// preRegister creates the receivers of client-fed streams (exec stdin,
// file.put) synchronously, in message order, so no chunk is lost to a race
// with the request's handler. The handler takes them with inbound.
func (n *Node) preRegister(m *protocol.Msg) (protocol.StreamKey, bool) {
	if m.Op == protocol.OpGatewayDial {
		return n.preRegisterGateway(m)
	}
	var id uint64
	switch m.Op {
	case protocol.OpVolumeReceive:
		return n.preRegisterVolume(m)
	case protocol.OpExec:
		var req protocol.ExecRequest
		if m.DecodeBody(&req) != nil {
			return protocol.StreamKey{}, false
		}
		id = req.Stdin
	case protocol.OpFilePut:
		var req protocol.FilePutRequest
		if m.DecodeBody(&req) != nil {
			return protocol.StreamKey{}, false
		}
		id = req.Stream
	case protocol.OpTunnelDial:
		var req protocol.TunnelDial
		if m.DecodeBody(&req) != nil {
			return protocol.StreamKey{}, false
		}
		id = req.Up
	}
	if id == 0 || m.Session == "" {
		return protocol.StreamKey{}, false
	}
	session, cid := m.Session, m.Container
	recv := protocol.NewReceiver(func(seq uint64) {
		n.send(&protocol.Msg{Kind: protocol.KindAck, Stream: id, Seq: seq, Session: session, Container: cid})
	})
	key := protocol.StreamKey{Scope: session, ID: id}
	n.streams.AddReceiver(key, recv)
	return key, true
}

// inbound returns the receiver preRegister made for stream id of session.
func (n *Node) inbound(session string, id uint64) *protocol.Receiver {
	return n.streams.Receiver(protocol.StreamKey{Scope: session, ID: id})
}

package node

import (
	"context"
	"fmt"

	"github.com/tffs/tffs/protocol"
)

// A move streams a volume from its node to another through the master:
// the source answers OpVolumeSend by writing the driver's stream on a
// stream to the master; the target answers OpVolumeReceive by reading one
// from the master (its receiver is registered as the request arrives, see
// preRegisterVolume). Stream ids are the master's; the messages carry no
// session.

// volumeSend streams volume req.ID to the master; the volume is unchanged.
func (n *Node) volumeSend(ctx context.Context, req protocol.NodeVolume) (any, error) {
	if req.Stream == 0 {
		return nil, fmt.Errorf("volume send without a stream: %w", protocol.ErrInvalid)
	}
	key := protocol.StreamKey{Scope: "", ID: req.Stream}
	snd := protocol.NewSender(req.Stream, protocol.Msg{}, n.send)
	n.streams.AddSender(key, snd)
	defer n.streams.Remove(key)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the master's abort stops the driver's stream at once
		select {
		case <-snd.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	err := n.vol.drv.Send(ctx, req.ID, snd)
	snd.Close(err)
	if err != nil {
		return nil, err
	}
	return protocol.VolumeState{Driver: n.vol.drv.Name()}, nil
}

// preRegisterVolume registers the receiver of an OpVolumeReceive before
// its first chunk can arrive.
func (n *Node) preRegisterVolume(m *protocol.Msg) (protocol.StreamKey, bool) {
	var req protocol.NodeVolume
	if m.Session != "" || m.DecodeBody(&req) != nil || req.Stream == 0 {
		return protocol.StreamKey{}, false
	}
	id := req.Stream
	recv := protocol.NewReceiver(func(seq uint64) {
		n.send(&protocol.Msg{Kind: protocol.KindAck, Stream: id, Seq: seq})
	})
	key := protocol.StreamKey{Scope: "", ID: id}
	n.streams.AddReceiver(key, recv)
	return key, true
}

// volumeReceive makes volume req.ID from the master's stream; on failure
// (a cut stream, a cancelled move) nothing of it is left.
func (n *Node) volumeReceive(ctx context.Context, req protocol.NodeVolume) (any, error) {
	key := protocol.StreamKey{Scope: "", ID: req.Stream}
	recv := n.streams.Receiver(key)
	if recv == nil {
		return nil, fmt.Errorf("volume receive stream %d: %w", req.Stream, protocol.ErrInvalid)
	}
	defer n.streams.Remove(key)
	if req.Driver != "" && req.Driver != n.vol.drv.Name() {
		recv.Abort()
		return nil, fmt.Errorf("volume %s is stored by the %s driver and node %s uses %s: a move needs the same driver on both nodes: %w",
			req.ID, req.Driver, n.cfg.Name, n.vol.drv.Name(), protocol.ErrInvalid)
	}
	if err := n.vol.drv.Receive(ctx, req.ID, recv); err != nil {
		recv.Abort()
		return nil, err
	}
	return n.volumeState(ctx, req.ID)
}

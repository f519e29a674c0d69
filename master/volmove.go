package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/tffs/tffs/protocol"
)

// A move streams a volume no container mounts from its node to another,
// through the master: the source node sends the driver's stream (btrfs
// send, zfs send, tar) to the master, which relays it with flow control
// to the target node's receive. The record names the source until the
// target has the whole volume; only then is the source's copy destroyed.
// A move can be cancelled (VolumeMoveRequest.Cancel, or the SDK's context
// ending): the target drops what it received, the source is untouched.

// moveStreamBase starts the ids of the master's move streams, far above
// the ids nodes pick for their own streams.
const moveStreamBase = 1 << 62

var moveSeq atomic.Uint64

func (m *Master) volumeMove(s *session, msg *protocol.Msg) {
	fail := func(err error) { m.reply(s.id, msg, nil, err) }
	var req protocol.VolumeMoveRequest
	if err := msg.DecodeBody(&req); err != nil {
		fail(err)
		return
	}
	v, err := m.findVolume(s.account, req.Volume)
	if err != nil {
		fail(err)
		return
	}
	if req.Cancel {
		if v.busy != "moving" || v.cancelMove == nil {
			fail(fmt.Errorf("volume %s is not being moved: %w", v.Name, protocol.ErrInvalid))
			return
		}
		v.cancelMove()
		m.reply(s.id, msg, protocol.Empty{}, nil)
		return
	}
	if v.busy != "" {
		fail(fmt.Errorf("volume %s: %s: %w", v.Name, v.busy, protocol.ErrBusy))
		return
	}
	if mounts := m.mountedBy(v.ID); len(mounts) > 0 {
		fail(fmt.Errorf("volume %s is mounted by container(s) %v: destroy them first: %w", v.Name, mounts, protocol.ErrBusy))
		return
	}
	if req.Node == v.Node {
		m.reply(s.id, msg, m.volumeInfo(v), nil)
		return
	}
	src, err := m.volumeNode(v)
	if err != nil {
		fail(err)
		return
	}
	dst := m.nodes[req.Node]
	if dst == nil || !dst.online {
		fail(fmt.Errorf("no node %q is available: %w", req.Node, protocol.ErrUnavailable))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), volumeOpTimeout)
	v.busy, v.cancelMove = "moving", cancel
	from, to, id, driver := src.conn(), dst.conn(), v.ID, v.Driver
	m.log.Info("volume move started", "volume", v.Name, "from", src.name, "to", dst.name)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		st, unanswered, err := m.moveStream(ctx, id, driver, from, to)
		if unanswered {
			// The target never said how its receive ended: what it got
			// goes when it is back.
			m.post(func() { m.addLeftover(id, to.name) })
		}
		if err == nil {
			// The target has it whole: the source's copy goes.
			dctx, dcancel := context.WithTimeout(context.Background(), volumeOpTimeout)
			if derr := m.nodeCall(dctx, from, protocol.OpVolumeDestroy, protocol.NodeVolume{ID: id}, nil); derr != nil && !errors.Is(derr, protocol.ErrNotFound) {
				m.log.Warn("volume moved; its source copy goes when the node is back", "volume", id, "node", from.name, "err", derr)
				m.post(func() { m.addLeftover(id, from.name) })
			}
			dcancel()
		}
		m.post(func() {
			v.busy, v.cancelMove = "", nil
			if err != nil {
				m.log.Info("volume move failed: the volume stays where it was", "volume", v.Name, "node", v.Node, "err", err)
				fail(fmt.Errorf("move volume %s to %s: %w", v.Name, dst.name, err))
				return
			}
			v.Node, v.Driver, v.Snapshots = dst.name, st.Driver, st.Snapshots
			m.saveVolume(v)
			m.log.Info("volume moved", "volume", v.Name, "node", v.Node)
			m.reply(s.id, msg, m.volumeInfo(v), nil)
			m.accountOffer(v.Account)
		})
	}()
}

// moveStream relays volume id from src to dst and returns the target's
// state of it once dst has it whole; unanswered says the target's reply
// never came (it may hold part of the volume).
func (m *Master) moveStream(ctx context.Context, id, driver string, src, dst nodeConn) (_ protocol.VolumeState, unanswered bool, _ error) {
	sID, tID := moveStreamBase+moveSeq.Add(1), moveStreamBase+moveSeq.Add(1)
	srcPeer, dstPeer := src.peer, dst.peer
	rkey := protocol.StreamKey{Scope: "node:" + src.name, ID: sID}
	recv := protocol.NewReceiver(func(seq uint64) {
		m.srv.Send(srcPeer, &protocol.Msg{Kind: protocol.KindAck, Stream: sID, Seq: seq})
	})
	m.streams.AddReceiver(rkey, recv)
	defer m.streams.Remove(rkey)
	skey := protocol.StreamKey{Scope: "node:" + dst.name, ID: tID}
	snd := protocol.NewSender(tID, protocol.Msg{}, func(d *protocol.Msg) error { return m.srv.Send(dstPeer, d) })
	m.streams.AddSender(skey, snd)
	defer m.streams.Remove(skey)
	to := func(peer string) func(*protocol.Msg) error {
		return func(msg *protocol.Msg) error { return m.srv.Send(peer, msg) }
	}
	// The nodes' replies are awaited even after a cancel (their streams
	// fail at once then), so the volume is free again only when the
	// target has dropped what it received.
	wctx, wcancel := context.WithTimeout(context.Background(), volumeOpTimeout)
	defer wcancel()
	var st protocol.VolumeState
	recvDone := m.calls.Start(wctx, to(dstPeer), protocol.OpVolumeReceive, protocol.NodeVolume{ID: id, Stream: tID, Driver: driver}, &st, nil)
	sendDone := m.calls.Start(wctx, to(srcPeer), protocol.OpVolumeSend, protocol.NodeVolume{ID: id, Stream: sID}, nil, nil)
	cerr := relay(ctx, recv, snd)
	if cerr != nil {
		// A node that went away may never answer: its reply is awaited a
		// while only.
		stop := time.AfterFunc(2*time.Minute, wcancel)
		defer stop.Stop()
		go m.cancelIfGone(wctx, wcancel, src, dst)
		recv.Abort()    // the source stops sending
		snd.Close(cerr) // the target's receive fails and drops what it has
		snd.Abort(cerr)
	} else {
		snd.Close(nil)
	}
	serr, rerr := sendDone(), recvDone()
	// The target's word says most (it refused, or the stream failed it),
	// then the source's, then the relay's.
	unanswered = rerr != nil && (errors.Is(rerr, protocol.ErrTimeout) || errors.Is(rerr, protocol.ErrUnavailable))
	for _, err := range []error{rerr, serr, cerr} {
		if err != nil {
			return st, unanswered, err
		}
	}
	return st, false, nil
}

// relay copies a stream from recv to snd until its end.
func relay(ctx context.Context, recv *protocol.Receiver, snd *protocol.Sender) error {
	buf := make([]byte, protocol.ChunkSize)
	for {
		n, err := recv.ReadContext(ctx, buf)
		if n > 0 {
			if _, werr := snd.WriteContext(ctx, buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// cancelIfGone calls cancel once one of nodes went away (or reconnected:
// the calls sent on its old connection will not be answered), checking
// each second until ctx ends.
func (m *Master) cancelIfGone(ctx context.Context, cancel context.CancelFunc, conns ...nodeConn) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		gone := false
		err := m.onLoop(func() {
			for _, c := range conns {
				if n := m.nodes[c.name]; n == nil || !n.online || n.peer != c.peer {
					gone = true
				}
			}
		})
		if err != nil || gone {
			cancel()
			return
		}
	}
}

package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

// ensureImage fetches the layers this node lacks from the master and makes
// the image ready in containerd. Concurrent spawns of one image wait for
// one another rather than fetching twice.
func (n *Node) ensureImage(ctx context.Context, img protocol.Image) error {
	n.mu.Lock()
	lock, ok := n.imageLocks[img.ConfigDigest]
	if !ok {
		lock = &sync.Mutex{}
		n.imageLocks[img.ConfigDigest] = lock
	}
	n.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	spec := runtime.ImageSpec{Name: img.Name, Config: img.Config, ConfigDigest: img.ConfigDigest}
	for _, l := range img.Layers {
		spec.Layers = append(spec.Layers, runtime.Layer{Digest: l.Digest, DiffID: l.DiffID, MediaType: l.MediaType, Size: l.Size})
		if n.rt.HasBlob(ctx, l.Digest) {
			continue
		}
		if err := n.fetchLayer(ctx, l); err != nil {
			return fmt.Errorf("fetch layer %s: %w", l.Digest, err)
		}
	}
	return n.rt.EnsureImage(ctx, spec)
}

func (n *Node) fetchLayer(ctx context.Context, l protocol.Layer) error {
	id := n.newStreamID()
	key := protocol.StreamKey{Scope: "", ID: id}
	recv := protocol.NewReceiver(func(seq uint64) {
		n.send(&protocol.Msg{Kind: protocol.KindAck, Stream: id, Seq: seq})
	})
	n.streams.AddReceiver(key, recv)
	defer n.streams.Remove(key)
	if err := n.calls.Call(ctx, n.send, protocol.OpLayerGet, protocol.LayerGetRequest{Digest: l.Digest, Stream: id}, nil, nil); err != nil {
		return err
	}
	n.log.Info("fetching layer", "digest", l.Digest, "size", l.Size)
	return n.rt.WriteBlob(ctx, l.Digest, l.Size, recv)
}

package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

// ensureImage fetches the layers this node lacks from the master and makes
// the image ready in containerd. It returns the image record's name, which
// is keyed by the account and the image's content (runtime.ImageRef), never
// by the image's name: that is what the container boots, reboots and
// resets into. Concurrent spawns of one image wait for one another rather
// than fetching twice.
func (n *Node) ensureImage(ctx context.Context, account string, img protocol.Image) (string, error) {
	if account == "" {
		return "", fmt.Errorf("spawn without an account: %w", protocol.ErrInvalid)
	}
	spec := runtime.ImageSpec{Name: img.Name, Config: img.Config, ConfigDigest: img.ConfigDigest}
	for _, l := range img.Layers {
		spec.Layers = append(spec.Layers, runtime.Layer{Digest: l.Digest, DiffID: l.DiffID, MediaType: l.MediaType, Size: l.Size})
	}
	ref, err := runtime.ImageRef(account, spec)
	if err != nil {
		return "", err
	}
	spec.Name = ref
	n.mu.Lock()
	lock, ok := n.imageLocks[ref]
	if !ok {
		lock = &sync.Mutex{}
		n.imageLocks[ref] = lock
	}
	n.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	for _, l := range img.Layers {
		if n.rt.HasBlob(ctx, l.Digest) {
			continue
		}
		if err := n.fetchLayer(ctx, l); err != nil {
			return "", fmt.Errorf("fetch layer %s: %w", l.Digest, err)
		}
	}
	return ref, n.rt.EnsureImage(ctx, spec)
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

package master

import (
	"context"
	"errors"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/tffs/tffs/protocol"
)

// A move can leave a copy of a volume on a node that could not be told to
// drop it: the source, when it went away between the end of the copy and
// its destroy; the target, when it went away during the copy (a target that
// answers drops a failed copy itself). Such leftovers are recorded in the
// store and destroyed when the node says hello again. Nothing else is ever
// destroyed on a node's report: volumes are data, and only a destroy, or
// the end of a move, removes one.

var bucketVolumeLeftovers = []byte("volume-leftovers") // volume id NUL node → empty

func leftoverKey(id, node string) string { return id + "\x00" + node }

// addLeftover records that node may hold a copy of volume id to destroy.
func (m *Master) addLeftover(id, node string) {
	err := m.store.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketVolumeLeftovers)
		if err != nil {
			return err
		}
		return b.Put([]byte(leftoverKey(id, node)), nil)
	})
	if err != nil {
		m.log.Error("store: volume leftover not recorded", "volume", id, "node", node, "err", err)
	}
}

// cleanLeftovers destroys the leftover copies recorded for node n (which
// just joined); it runs on the actor and works in the background.
func (m *Master) cleanLeftovers(n *node) {
	var ids []string
	m.store.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVolumeLeftovers)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if id, node, ok := strings.Cut(string(k), "\x00"); ok && node == n.name {
				ids = append(ids, id)
			}
			return nil
		})
	})
	for _, id := range ids {
		if v := m.volumes[id]; v != nil && (v.Node == n.name || v.busy != "") {
			continue // it lives there again, or is being moved: not a leftover now
		}
		c := n.conn()
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), volumeOpTimeout)
			defer cancel()
			err := m.nodeCall(ctx, c, protocol.OpVolumeDestroy, protocol.NodeVolume{ID: id}, nil)
			if err != nil && !errors.Is(err, protocol.ErrNotFound) {
				m.log.Warn("volume leftover not destroyed yet", "volume", id, "node", c.name, "err", err)
				return
			}
			m.post(func() {
				if err := m.store.delete(bucketVolumeLeftovers, leftoverKey(id, c.name)); err != nil {
					m.log.Error("store: volume leftover not removed", "err", err)
				}
				m.log.Info("volume leftover destroyed", "volume", id, "node", c.name)
			})
		}()
	}
}

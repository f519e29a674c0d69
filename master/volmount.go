package master

import (
	"fmt"
	"strings"

	"github.com/tffs/tffs/protocol"
)

// The places where volumes meet containers: a spawn's mounts, and the
// file operations on a volume's files.

// spawnMounts resolves a spawn's volume mounts for account: the volumes
// must all be on one node, which the spawn then goes to (req.Node is set
// when empty; another node is refused).
func (m *Master) spawnMounts(account string, req *protocol.SpawnRequest) ([]protocol.NodeMount, []string, error) {
	var mounts []protocol.NodeMount
	var ids []string
	for _, vm := range req.Volumes {
		v, err := m.findVolume(account, vm.Volume)
		if err != nil {
			return nil, nil, err
		}
		if v.busy != "" && v.busy != "snapshot" {
			return nil, nil, fmt.Errorf("volume %s: %s: %w", v.Name, v.busy, protocol.ErrBusy)
		}
		if !strings.HasPrefix(vm.Path, "/") || strings.ContainsRune(vm.Path, 0) || strings.Trim(vm.Path, "/") == "" {
			return nil, nil, fmt.Errorf("volume %s: mount point %q must be an absolute path below /: %w", v.Name, vm.Path, protocol.ErrInvalid)
		}
		if req.Node == "" {
			req.Node = v.Node
		}
		if req.Node != v.Node {
			return nil, nil, fmt.Errorf("volume %s lives on node %s, not %s: spawn there (or on nodes/any), or move the volume: %w",
				v.Name, v.Node, req.Node, protocol.ErrInvalid)
		}
		mounts = append(mounts, protocol.NodeMount{ID: v.ID, Path: vm.Path, ReadOnly: vm.ReadOnly})
		ids = append(ids, v.ID)
	}
	return mounts, ids, nil
}

// forwardVolume passes a file operation (or stream message) on a volume's
// files to its node, stamped with the session, after checking the volume
// is the account's.
func (m *Master) forwardVolume(s *session, msg *protocol.Msg) {
	id := strings.TrimPrefix(msg.Container, protocol.VolumePrefix)
	v := m.volumes[id]
	if v == nil || v.Account != s.account || v.busy == "creating" || v.busy == "destroying" || v.busy == "moving" {
		if msg.Kind == protocol.KindRequest {
			err := fmt.Errorf("volume %q: %w", id, protocol.ErrNotFound)
			if v != nil && v.Account == s.account {
				err = fmt.Errorf("volume %s: %s: %w", v.Name, v.busy, protocol.ErrBusy)
			}
			m.reply(s.id, msg, nil, err)
		}
		return
	}
	n, err := m.volumeNode(v)
	if err != nil {
		if msg.Kind == protocol.KindRequest {
			m.reply(s.id, msg, nil, err)
		}
		return
	}
	msg.Session = s.id
	if err := m.srv.Send(n.peer, msg); err != nil {
		m.log.Debug("forward failed", "err", err)
	}
}

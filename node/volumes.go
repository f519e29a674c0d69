package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/node/volume"
	"github.com/tffs/tffs/protocol"
)

// nodeVolumes holds the node's volumes: the driver its configuration
// chose, and one lock per volume so a volume's operations do not overlap.
type nodeVolumes struct {
	drv   volume.Driver
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// openVolumes opens the driver cfg.Volumes names (dir under Dir/volumes
// by default).
func openVolumes(cfg Config) (*nodeVolumes, error) {
	vc := cfg.Volumes
	if vc.Dir == "" {
		vc.Dir = filepath.Join(cfg.Dir, "volumes")
	}
	drv, err := volume.Open(vc)
	if err != nil {
		return nil, fmt.Errorf("node %s: volumes: %w", cfg.Name, err)
	}
	return &nodeVolumes{drv: drv, locks: map[string]*sync.Mutex{}}, nil
}

// lock takes volume id's lock; the caller calls the returned unlock.
func (v *nodeVolumes) lock(id string) func() {
	v.mu.Lock()
	l := v.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		v.locks[id] = l
	}
	v.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// VolumeDriver is the name of the node's volume driver.
func (n *Node) VolumeDriver() string { return n.vol.drv.Name() }

// volumeRequest carries out a volume operation of the master.
func (n *Node) volumeRequest(ctx context.Context, m *protocol.Msg) (any, error) {
	if m.Session != "" {
		return nil, fmt.Errorf("operation %q comes from the master only: %w", m.Op, protocol.ErrPermission)
	}
	var req protocol.NodeVolume
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	if err := volume.CheckID(req.ID); err != nil {
		return nil, err
	}
	defer n.vol.lock(req.ID)()
	d := n.vol.drv
	var err error
	switch m.Op {
	case protocol.OpVolumeCreate:
		if err = d.Create(ctx, req.ID); err == nil {
			if err = n.chownVolume(req.ID); err != nil {
				d.Destroy(context.WithoutCancel(ctx), req.ID)
			}
		}
	case protocol.OpVolumeDestroy:
		err = d.Destroy(ctx, req.ID)
		if err == nil {
			return protocol.VolumeState{Driver: d.Name()}, nil
		}
	case protocol.OpVolumeSnapshot:
		_, err = d.Snapshot(ctx, req.ID)
	case protocol.OpVolumeRollback:
		err = d.Rollback(ctx, req.ID)
	case protocol.OpVolumeInfo:
	case protocol.OpVolumeSend:
		return n.volumeSend(ctx, req)
	case protocol.OpVolumeReceive:
		return n.volumeReceive(ctx, req)
	default:
		return nil, fmt.Errorf("unknown volume operation %q: %w", m.Op, protocol.ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	return n.volumeState(ctx, req.ID)
}

func (n *Node) volumeState(ctx context.Context, id string) (protocol.VolumeState, error) {
	st := protocol.VolumeState{Driver: n.vol.drv.Name()}
	var err error
	if st.Snapshots, err = n.vol.drv.Snapshots(ctx, id); err != nil {
		return st, err
	}
	st.Used, err = n.vol.drv.Usage(ctx, id)
	return st, err
}

// chownVolume gives a new volume's top directory to a hardened
// container's root, so containers can write in it.
func (n *Node) chownVolume(id string) error {
	uid, gid := n.rt.ContainerRoot().UIDGID()
	return os.Chown(n.vol.drv.Path(id), uid, gid)
}

// volumeFiles is the pseudo container whose file operations work on a
// volume's data (Msg.Container "vol:ID", see protocol.VolumePrefix): only
// file operations are allowed on it.
func (n *Node) volumeFiles(m *protocol.Msg) (*ctr, error) {
	id := m.Container[len(protocol.VolumePrefix):]
	switch m.Op {
	case protocol.OpFilePut, protocol.OpFileFetch, protocol.OpFileStat, protocol.OpFileList,
		protocol.OpFileMkdir, protocol.OpFileRemove, protocol.OpFileRename,
		protocol.OpFileSetattr, protocol.OpFileMake, protocol.OpFileRead, protocol.OpFileWrite,
		protocol.OpFileSync, protocol.OpFileStatfs:
	default:
		return nil, fmt.Errorf("operation %q on a volume: %w", m.Op, protocol.ErrInvalid)
	}
	if volume.CheckID(id) != nil || m.Session == "" {
		return nil, fmt.Errorf("volume %q: %w", id, protocol.ErrNotFound)
	}
	dir := n.vol.drv.Path(id)
	if dir == "" {
		return nil, fmt.Errorf("volume %q: %w", id, protocol.ErrNotFound)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("volume %q: %w", id, protocol.ErrNotFound)
	}
	return &ctr{id: m.Container, session: m.Session, rc: n.rt.DirFiles(dir)}, nil
}

// volumeMounts turns a spawn's volume mounts into runtime mounts; a
// volume the node lacks is ErrNotFound.
func (n *Node) volumeMounts(ms []protocol.NodeMount) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for _, m := range ms {
		if err := volume.CheckID(m.ID); err != nil {
			return nil, err
		}
		if err := checkPath(m.Path); err != nil {
			return nil, fmt.Errorf("volume mount point: %w", err)
		}
		dir := n.vol.drv.Path(m.ID)
		if _, err := os.Stat(dir); dir == "" || err != nil {
			return nil, fmt.Errorf("volume %s is not on node %s: %w", m.ID, n.cfg.Name, protocol.ErrNotFound)
		}
		out = append(out, runtime.Mount{Source: dir, Dest: m.Path, ReadOnly: m.ReadOnly})
	}
	return out, nil
}

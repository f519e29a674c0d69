package sdk

import (
	"context"
	"errors"
	"fmt"

	"github.com/tffs/tffs/protocol"
)

// VolumeInfo describes a volume: its node, snapshots (oldest first), the
// bytes it uses (from Volume.Info) and the account's containers that
// mount it.
type VolumeInfo = protocol.VolumeInfo

// Volume is a persistent volume of the session's account. It outlives
// the session: only Destroy removes it, and never while a container
// mounts it. Another session of the account finds it by name or tag with
// Location.Volume.
type Volume struct {
	loc  *Location
	ID   string // the location's id for it
	Name string // unique among the account's volumes
	Tag  string // "" if none
	Node string // the node that holds its data (as of the last reply)
}

// VolumeOption configures CreateVolume.
type VolumeOption func(*protocol.VolumeCreateRequest)

// VolumeTag tags a new volume: a second name, unique among the account's
// volumes (the rules of container tags, see CheckTag).
func VolumeTag(tag string) VolumeOption {
	return func(r *protocol.VolumeCreateRequest) { r.Tag = tag }
}

// VolumeOnNode makes the volume on the named node (default: the
// best-ranked one). Containers that mount it run there.
func VolumeOnNode(node string) VolumeOption {
	return func(r *protocol.VolumeCreateRequest) { r.Node = node }
}

func (l *Location) volume(info VolumeInfo) *Volume {
	return &Volume{loc: l, ID: info.ID, Name: info.Name, Tag: info.Tag, Node: info.Node}
}

// CreateVolume makes a new, empty volume of the account named name (ErrExists
// if the account has a volume of that name or tag).
func (l *Location) CreateVolume(ctx context.Context, name string, opts ...VolumeOption) (*Volume, error) {
	req := protocol.VolumeCreateRequest{Name: name}
	for _, o := range opts {
		o(&req)
	}
	if req.Tag != "" {
		if err := protocol.CheckTag(req.Tag); err != nil {
			return nil, fmt.Errorf("create volume %s: %w", name, err)
		}
	}
	var info VolumeInfo
	if err := l.call(ctx, protocol.OpVolumeCreate, req, &info, ""); err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	return l.volume(info), nil
}

// Volumes lists the account's volumes, by name.
func (l *Location) Volumes(ctx context.Context) ([]VolumeInfo, error) {
	var list protocol.VolumeList
	if err := l.call(ctx, protocol.OpVolumeList, protocol.Empty{}, &list, ""); err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	return list.Volumes, nil
}

// Volume finds the account's volume by name, else by tag (ErrNotFound).
func (l *Location) Volume(ctx context.Context, nameOrTag string) (*Volume, error) {
	var info VolumeInfo
	if err := l.call(ctx, protocol.OpVolumeInfo, protocol.VolumeRef{Volume: nameOrTag}, &info, ""); err != nil {
		return nil, fmt.Errorf("volume %s: %w", nameOrTag, err)
	}
	return l.volume(info), nil
}

// op runs a volume operation and refreshes v from the reply.
func (v *Volume) op(ctx context.Context, op string) (VolumeInfo, error) {
	var info VolumeInfo
	if err := v.loc.call(ctx, op, protocol.VolumeRef{Volume: v.Name}, &info, ""); err != nil {
		return info, fmt.Errorf("%s %s: %w", op, v.Name, err)
	}
	v.Node = info.Node
	return info, nil
}

// Info describes the volume now (with the bytes it uses, asked of its node).
func (v *Volume) Info(ctx context.Context) (VolumeInfo, error) {
	return v.op(ctx, protocol.OpVolumeInfo)
}

// Snapshot takes a read-only snapshot of the volume's data.
func (v *Volume) Snapshot(ctx context.Context) error {
	_, err := v.op(ctx, protocol.OpVolumeSnapshot)
	return err
}

// Rollback brings the volume's data back to its last snapshot (ErrNotFound
// without one). It is refused with ErrBusy while a container mounts the
// volume: destroy those containers first.
func (v *Volume) Rollback(ctx context.Context) error {
	_, err := v.op(ctx, protocol.OpVolumeRollback)
	return err
}

// Destroy removes the volume, its data and its snapshots. It is refused
// with ErrBusy while a container mounts it.
func (v *Volume) Destroy(ctx context.Context) error {
	err := v.loc.call(ctx, protocol.OpVolumeDestroy, protocol.VolumeRef{Volume: v.Name}, nil, "")
	if err != nil {
		return fmt.Errorf("destroy volume %s: %w", v.Name, err)
	}
	return nil
}

// Move moves the volume, which no container may mount, to node: its data
// streams from its node to the other through the location. The volume
// stays whole on its node until the copy is complete; if ctx ends first
// the move is cancelled (what the other node received is dropped) and
// Move returns an error wrapping ErrTimeout.
func (v *Volume) Move(ctx context.Context, node string) error {
	var info VolumeInfo
	err := v.loc.call(ctx, protocol.OpVolumeMove, protocol.VolumeMoveRequest{Volume: v.Name, Node: node}, &info, "")
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ErrTimeout) {
			v.loc.undo(protocol.OpVolumeMove, protocol.VolumeMoveRequest{Volume: v.Name, Cancel: true}, "")
		}
		return fmt.Errorf("move volume %s to %s: %w", v.Name, node, err)
	}
	v.Node = info.Node
	return nil
}

// Files gives the volume's files with a container's file calls (Put,
// Fetch, List, Stat, Mkdir, Remove, Rename), with the same rules: paths
// are resolved inside the volume, ".." and symlinks cannot leave it. It
// has no processes: only the file calls may be used on it.
func (v *Volume) Files() *Container {
	return &Container{loc: v.loc, ID: protocol.VolumePrefix + v.ID, Name: v.Name, Node: v.Node,
		procs: map[string]*Process{}, isGone: make(chan struct{})}
}

// MountOption configures MountVolume.
type MountOption func(*protocol.VolumeMount)

// ReadOnly mounts the volume read-only.
func ReadOnly() MountOption { return func(m *protocol.VolumeMount) { m.ReadOnly = true } }

// MountVolume mounts vol at path in the container, which then runs on the
// volume's node (spawning on another node fails with ErrInvalid). Several
// containers may mount one volume and see each other's writes.
func MountVolume(vol *Volume, path string, opts ...MountOption) SpawnOption {
	return MountVolumeNamed(vol.Name, path, opts...)
}

// MountVolumeNamed is MountVolume for a volume named by its name or tag.
func MountVolumeNamed(nameOrTag, path string, opts ...MountOption) SpawnOption {
	m := protocol.VolumeMount{Volume: nameOrTag, Path: path}
	for _, o := range opts {
		o(&m)
	}
	return func(c *spawnConfig) { c.req.Volumes = append(c.req.Volumes, m) }
}

// OnVolumeEvent calls f (on the callback goroutine) when a volume of the
// account is created or destroyed, by this session or another one of the
// account; op is protocol.EvVolumeCreated or EvVolumeDestroyed.
func OnVolumeEvent(f func(op string, info VolumeInfo)) Option {
	return func(c *connectConfig) { c.onVolume = f }
}

func (l *Location) volumeEvent(m *protocol.Msg) {
	var info VolumeInfo
	if f := l.cfg.onVolume; f != nil && m.DecodeBody(&info) == nil {
		op := m.Op
		l.callback(func() { f(op, info) })
	}
}

// AnyNode is "let the location choose" (the mount's nodes/any): a spawn
// there goes to the node of the volumes it mounts, else to the
// best-ranked node.
func (l *Location) AnyNode() *Node { return &Node{loc: l} }

// VolumeByName is a handle on the account's volume named nameOrTag,
// without asking the location (its ID and Node are unknown until a call
// answers; Files needs them, so use Volume for that).
func (l *Location) VolumeByName(nameOrTag string) *Volume { return &Volume{loc: l, Name: nameOrTag} }

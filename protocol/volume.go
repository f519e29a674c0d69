package protocol

import (
	"strings"
	"time"
)

// Volume operations. A client names a volume by its name or its tag
// (VolumeRef); the master checks it belongs to the session's account.
const (
	OpVolumeCreate   = "volume.create"   // VolumeCreateRequest → VolumeInfo
	OpVolumeList     = "volume.list"     // {} → VolumeList: the account's volumes
	OpVolumeInfo     = "volume.info"     // VolumeRef → VolumeInfo (with Used from its node)
	OpVolumeDestroy  = "volume.destroy"  // VolumeRef → {}; ErrBusy while a container mounts it
	OpVolumeSnapshot = "volume.snapshot" // VolumeRef → VolumeInfo
	OpVolumeRollback = "volume.rollback" // VolumeRef → VolumeInfo; ErrBusy while a container mounts it
	OpVolumeMove     = "volume.move"     // VolumeMoveRequest → VolumeInfo

	// Master → node (Msg.Session empty): NodeVolume → VolumeState.
	// OpVolumeCreate, OpVolumeDestroy, OpVolumeSnapshot, OpVolumeRollback
	// and OpVolumeInfo are reused with a NodeVolume body; the two below
	// stream a volume for a move (Stream: node → master for send, master →
	// node for receive).
	OpVolumeSend    = "volume.send"
	OpVolumeReceive = "volume.receive"

	// Events to the sessions of the volume's account only: VolumeInfo.
	EvVolumeCreated   = "volume.created"
	EvVolumeDestroyed = "volume.destroyed"
)

// VolumePrefix starts the Msg.Container of a file operation on a volume's
// files ("vol:" + the volume's id): the file operations of containers
// (OpFilePut, OpFileFetch, OpFileList, …) then work on the volume's data,
// with the same rules as on a container's root.
const VolumePrefix = "vol:"

// IsVolumeTarget reports whether a Msg.Container names a volume.
func IsVolumeTarget(container string) bool { return strings.HasPrefix(container, VolumePrefix) }

// VolumeCreateRequest asks for a new volume of the account.
type VolumeCreateRequest struct {
	Name string `cbor:"1,keyasint"`
	Tag  string `cbor:"2,keyasint,omitempty"` // unique among the account's volumes; see CheckTag
	Node string `cbor:"3,keyasint,omitempty"` // "" = best-ranked node
}

// VolumeRef names a volume of the account by name or tag.
type VolumeRef struct {
	Volume string `cbor:"1,keyasint"`
}

// VolumeMoveRequest moves a volume no container mounts to another node.
type VolumeMoveRequest struct {
	Volume string `cbor:"1,keyasint"`
	Node   string `cbor:"2,keyasint"`
	Cancel bool   `cbor:"3,keyasint,omitempty"` // stop the volume's move in progress instead
}

// VolumeInfo describes a volume.
type VolumeInfo struct {
	ID        string    `cbor:"1,keyasint"`
	Name      string    `cbor:"2,keyasint"`
	Tag       string    `cbor:"3,keyasint,omitempty"`
	Node      string    `cbor:"4,keyasint"`
	Snapshots []string  `cbor:"5,keyasint,omitempty"` // oldest first
	Used      int64     `cbor:"6,keyasint,omitempty"` // bytes (OpVolumeInfo only)
	Mounts    []string  `cbor:"7,keyasint,omitempty"` // names of the account's containers that mount it
	Created   time.Time `cbor:"8,keyasint,omitempty"`
	Driver    string    `cbor:"9,keyasint,omitempty"` // the node's storage driver
	Moving    bool      `cbor:"10,keyasint,omitempty"`
}

// VolumeList lists the account's volumes.
type VolumeList struct {
	Volumes []VolumeInfo `cbor:"1,keyasint"`
}

// VolumeMount asks for a volume (by name or tag) at Path in a container.
type VolumeMount struct {
	Volume   string `cbor:"1,keyasint"`
	Path     string `cbor:"2,keyasint"`
	ReadOnly bool   `cbor:"3,keyasint,omitempty"`
}

// NodeMount is a volume mount as the master forwards it: the volume's id.
type NodeMount struct {
	ID       string `cbor:"1,keyasint"`
	Path     string `cbor:"2,keyasint"`
	ReadOnly bool   `cbor:"3,keyasint,omitempty"`
}

// NodeVolume names a volume on a node (master → node).
type NodeVolume struct {
	ID     string `cbor:"1,keyasint"`
	Stream uint64 `cbor:"2,keyasint,omitempty"` // OpVolumeSend, OpVolumeReceive
	// Driver, on OpVolumeReceive, is the source node's driver: a stream
	// is only understood by the same driver (else ErrInvalid).
	Driver string `cbor:"3,keyasint,omitempty"`
}

// VolumeState is a node's answer about a volume.
type VolumeState struct {
	Snapshots []string `cbor:"1,keyasint,omitempty"`
	Used      int64    `cbor:"2,keyasint,omitempty"`
	Driver    string   `cbor:"3,keyasint,omitempty"`
}

package protocol

import "time"

// Operations (Msg.Op). Requests from a client to the master unless noted;
// the master forwards container operations to the container's node.
const (
	OpHello        = "hello"         // client starts its session: HelloRequest → Offer
	OpOffer        = "offer"         // request: → Offer; event from master: Offer
	OpLayersNeeded = "layers.needed" // LayersNeededRequest → LayersNeededReply
	OpLayerPut     = "layer.put"     // LayerPutRequest + stream client→master → {}
	OpImagePut     = "image.put"     // Image → {}
	OpImageList    = "image.list"    // → ImageList
	OpImageFiles   = "image.files"   // ImageFileRequest → FileList: a directory of the image's merged layers
	OpImageFetch   = "image.fetch"   // ImageFileRequest → FileInfo, then stream master→client
	OpSpawn        = "spawn"         // SpawnRequest → SpawnReply (master → node: NodeSpawn)
	OpList         = "container.list"
	OpExec         = "exec"       // ExecRequest → {} (process exits as EvProcExit)
	OpSignal       = "signal"     // SignalRequest → {}
	OpResize       = "resize"     // ResizeRequest → {}
	OpReboot       = "reboot"     // RebootRequest → {}
	OpReset        = "reset"      // RebootRequest → {}
	OpDestroy      = "destroy"    // {} → {}
	OpFilePut      = "file.put"   // FilePutRequest + stream client→node → {}
	OpFileFetch    = "file.fetch" // FileFetchRequest → FileInfo, then stream node→client
	OpFileStat     = "file.stat"  // PathRequest → FileInfo
	OpFileList     = "file.list"  // PathRequest → FileList
	OpFileMkdir    = "file.mkdir" // PathRequest → {}
	OpFileRemove   = "file.remove"
	OpFileRename   = "file.rename" // RenameRequest → {}

	// Node ↔ master.
	OpNodeHello  = "node.hello"  // NodeHello → NodeHelloReply
	OpNodeStats  = "node.stats"  // event NodeStats
	OpLayerGet   = "layer.get"   // node → master: LayerGetRequest → {} then stream master→node
	OpSessionEnd = "session.end" // master → node: SessionEnd → {}
	// OpSessionStreamsReset: master → node: SessionEnd → {}: the session's
	// link was reset, so its streams fail with ErrUnavailable.
	OpSessionStreamsReset = "session.streams-reset"

	// Events to clients.
	EvNodeAdded     = "node.added"     // NodeInfo
	EvNodeGone      = "node.gone"      // NodeInfo
	EvContainerExit = "container.exit" // ContainerExit (also node → master)
	EvContainerGone = "container.gone" // ContainerGone (also node → master)
	EvProcExit      = "proc.exit"      // ProcExit (node → master → client)
)

// Empty is the body of requests and replies that carry nothing.
type Empty struct{}

// HelloRequest opens a client session.
type HelloRequest struct {
	Client string `cbor:"1,keyasint,omitempty"` // free-form client description
}

// NodeInfo is one node in the resource offer.
type NodeInfo struct {
	Name       string  `cbor:"1,keyasint"`
	CPUs       int     `cbor:"2,keyasint"`
	MemTotal   uint64  `cbor:"3,keyasint"`
	MemFree    uint64  `cbor:"4,keyasint"`
	Load1      float64 `cbor:"5,keyasint"`
	CPUUsage   float64 `cbor:"6,keyasint"` // 0..1 over the last interval
	Containers int     `cbor:"7,keyasint"`
	Rank       int     `cbor:"8,keyasint"` // 1 is best
}

// Offer is the resource offer: what a session can use in the location.
type Offer struct {
	Nodes []NodeInfo `cbor:"1,keyasint"`
	// Master is the master's incarnation: it changes each time the master
	// starts, so a client that sees another one says hello again.
	Master string `cbor:"2,keyasint,omitempty"`

	Volumes []VolumeInfo `cbor:"40,keyasint,omitempty"` // the session's account's volumes
	// Externals are the tagged containers of the account's other sessions.
	Externals []External `cbor:"20,keyasint,omitempty"`
	// Gateway is the web gateway; Endpoints the session's domains.
	Gateway   GatewayInfo    `cbor:"21,keyasint,omitempty"`
	Endpoints []EndpointInfo `cbor:"22,keyasint,omitempty"`
}

// Pong is the body of a heartbeat answer.
type Pong struct {
	Master string `cbor:"1,keyasint,omitempty"` // the master's incarnation (see Offer)
	// NoSession: the master holds no session under the client's name (it
	// was collected): the client must say hello again.
	NoSession bool `cbor:"2,keyasint,omitempty"`
}

// NodeStats is a node's live load report.
type NodeStats struct {
	CPUs       int     `cbor:"1,keyasint"`
	MemTotal   uint64  `cbor:"2,keyasint"`
	MemFree    uint64  `cbor:"3,keyasint"`
	Load1      float64 `cbor:"4,keyasint"`
	CPUUsage   float64 `cbor:"5,keyasint"`
	Containers int     `cbor:"6,keyasint"`
}

// NodeHello registers a node (sent on every connect).
type NodeHello struct {
	Name  string    `cbor:"1,keyasint"`
	Boot  string    `cbor:"2,keyasint"` // changes each time the node daemon starts
	Stats NodeStats `cbor:"3,keyasint"`
	// Containers are the containers the node runs, so a master that
	// restarted or forgot some can settle its records with the node's.
	Containers []NodeContainer `cbor:"4,keyasint,omitempty"`
	// Addr is the address other nodes reach this one on ("": a node alone
	// on its host network, no LAN to other hosts).
	Addr string `cbor:"20,keyasint,omitempty"`
}

// NodeContainer is a node's report of one container it runs: the node's
// word wins for the runtime state (boot, running or exited).
type NodeContainer struct {
	ID     string `cbor:"1,keyasint"`
	Boot   int    `cbor:"2,keyasint,omitempty"` // the current boot's number
	Exited bool   `cbor:"3,keyasint,omitempty"` // that boot's main process has exited
	Exit   int    `cbor:"4,keyasint,omitempty"` // its exit code
	// Procs are the processes started with exec that still run, so a
	// restarted master counts them against the account's limit again.
	Procs []string `cbor:"5,keyasint,omitempty"`
}

// NodeHelloReply answers a node's hello.
type NodeHelloReply struct {
	Master string `cbor:"1,keyasint,omitempty"` // the master's incarnation (see Offer)
	// Drop names the reported containers the master does not know: the
	// node destroys them.
	Drop []string `cbor:"2,keyasint,omitempty"`
	// Peers are the other nodes with an address: the node routes their
	// containers' subnets to them.
	Peers []NodePeer `cbor:"20,keyasint,omitempty"`
}

// Layer describes one image layer blob.
type Layer struct {
	Digest    string `cbor:"1,keyasint"`
	DiffID    string `cbor:"2,keyasint"`
	MediaType string `cbor:"3,keyasint"`
	Size      int64  `cbor:"4,keyasint"`
}

// Image is an image description: its config and layers.
type Image struct {
	Name         string  `cbor:"1,keyasint"`
	Config       []byte  `cbor:"2,keyasint"`
	ConfigDigest string  `cbor:"3,keyasint"`
	Layers       []Layer `cbor:"4,keyasint"`
}

// ImageList lists a session's account's images.
type ImageList struct {
	Images []Image `cbor:"1,keyasint"`
}

// LayersNeededRequest asks which of the digests the master lacks.
type LayersNeededRequest struct {
	Digests []string `cbor:"1,keyasint"`
}

// LayersNeededReply lists the digests to upload.
type LayersNeededReply struct {
	Missing []string `cbor:"1,keyasint"`
}

// LayerPutRequest announces a layer upload on Stream.
type LayerPutRequest struct {
	Digest string `cbor:"1,keyasint"`
	Size   int64  `cbor:"2,keyasint"`
	Stream uint64 `cbor:"3,keyasint"`
}

// LayerGetRequest asks the master to stream a layer blob on Stream.
type LayerGetRequest struct {
	Digest string `cbor:"1,keyasint"`
	Stream uint64 `cbor:"2,keyasint"`
}

// ImageFileRequest names a path in an image's file tree (its layers
// merged, whiteouts applied), for listing or, with Stream, reading.
type ImageFileRequest struct {
	Image  string `cbor:"1,keyasint"`
	Path   string `cbor:"2,keyasint"`
	Stream uint64 `cbor:"3,keyasint,omitempty"`
}

// File is a pre-boot file.
type File struct {
	Path string `cbor:"1,keyasint"`
	Mode uint32 `cbor:"2,keyasint"`
	Data []byte `cbor:"3,keyasint"`
}

// SpawnRequest asks for a new container.
type SpawnRequest struct {
	Node     string   `cbor:"1,keyasint,omitempty"` // "" = best-ranked
	Name     string   `cbor:"2,keyasint,omitempty"` // unique in the session; "" = the id
	Image    string   `cbor:"3,keyasint"`
	Args     []string `cbor:"4,keyasint,omitempty"`
	Env      []string `cbor:"5,keyasint,omitempty"`
	Cwd      string   `cbor:"6,keyasint,omitempty"`
	User     string   `cbor:"7,keyasint,omitempty"`
	CPUs     float64  `cbor:"8,keyasint,omitempty"`
	Memory   int64    `cbor:"9,keyasint,omitempty"`
	Files    []File   `cbor:"10,keyasint,omitempty"`
	Asleep   bool     `cbor:"11,keyasint,omitempty"`
	Stdout   uint64   `cbor:"12,keyasint,omitempty"` // stream ids chosen by the client, 0 = discard
	Stderr   uint64   `cbor:"13,keyasint,omitempty"`
	Hostname string   `cbor:"14,keyasint,omitempty"`
	Tag      string   `cbor:"15,keyasint,omitempty"` // unique among the account's containers; see CheckTag
	Relax    *Relax   `cbor:"16,keyasint,omitempty"` // nil = the node's full hardening
	// Hold makes the container without starting it (its boot is 0): files
	// can be put into it, then OpStart starts it.
	Hold bool `cbor:"17,keyasint,omitempty"`

	Volumes []VolumeMount `cbor:"40,keyasint,omitempty"` // the container runs on their node
}

// Relax asks a node to loosen its default hardening of one container. A
// node grants it only for an image its operator trusts (else
// ErrPermission).
type Relax struct {
	HostUsers bool     `cbor:"1,keyasint,omitempty"` // no user namespace: container root is the node's root
	NoSeccomp bool     `cbor:"2,keyasint,omitempty"` // no seccomp filter
	Caps      []string `cbor:"3,keyasint,omitempty"` // capabilities added to the default set, e.g. "CAP_MKNOD"
}

// NodeSpawn is a spawn as the master forwards it: the request, the id the
// master chose, the image description the node must have and the account
// the master stamped on it (the node keys its image records by account and
// content, never by the image's name alone).
type NodeSpawn struct {
	ID      string       `cbor:"1,keyasint"`
	Request SpawnRequest `cbor:"2,keyasint"`
	Image   Image        `cbor:"3,keyasint"`
	Account string       `cbor:"4,keyasint"`

	Mounts []NodeMount `cbor:"40,keyasint,omitempty"` // volumes to bind-mount
	Net    *NetConfig  `cbor:"20,keyasint,omitempty"` // nil: loopback only
}

// SpawnReply names the new container.
type SpawnReply struct {
	ID   string `cbor:"1,keyasint"`
	Name string `cbor:"2,keyasint"`
	Node string `cbor:"3,keyasint"`
	Boot int    `cbor:"4,keyasint,omitempty"` // the first boot's number
	// IP is its private address.
	IP string `cbor:"20,keyasint,omitempty"`
}

// ContainerInfo describes one container of the session.
type ContainerInfo struct {
	ID     string `cbor:"1,keyasint"`
	Name   string `cbor:"2,keyasint"`
	Node   string `cbor:"3,keyasint"`
	Image  string `cbor:"4,keyasint"`
	State  string `cbor:"5,keyasint"`
	Exit   int    `cbor:"6,keyasint"`
	Exited bool   `cbor:"7,keyasint"`
	Tag    string `cbor:"8,keyasint,omitempty"`
	Boot   int    `cbor:"9,keyasint,omitempty"` // the current boot's number
	// IP is its private address.
	IP string `cbor:"20,keyasint,omitempty"`
}

// ContainerList lists the session's containers.
type ContainerList struct {
	Containers []ContainerInfo `cbor:"1,keyasint"`
}

// ExecRequest starts a process in a container.
type ExecRequest struct {
	Proc   string   `cbor:"1,keyasint"` // chosen by the client, unique in the container
	Args   []string `cbor:"2,keyasint"`
	Env    []string `cbor:"3,keyasint,omitempty"`
	Cwd    string   `cbor:"4,keyasint,omitempty"`
	TTY    bool     `cbor:"5,keyasint,omitempty"`
	Stdin  uint64   `cbor:"6,keyasint,omitempty"` // stream ids, 0 = none
	Stdout uint64   `cbor:"7,keyasint,omitempty"`
	Stderr uint64   `cbor:"8,keyasint,omitempty"`
	Width  uint32   `cbor:"9,keyasint,omitempty"`
	Height uint32   `cbor:"10,keyasint,omitempty"`
}

// SignalRequest signals a process ("" = the main process).
type SignalRequest struct {
	Proc   string `cbor:"1,keyasint,omitempty"`
	Signal int    `cbor:"2,keyasint"`
}

// ResizeRequest resizes a process's pty.
type ResizeRequest struct {
	Proc   string `cbor:"1,keyasint"`
	Width  uint32 `cbor:"2,keyasint"`
	Height uint32 `cbor:"3,keyasint"`
}

// RebootRequest reboots or resets a container; new output streams follow.
type RebootRequest struct {
	Stdout uint64 `cbor:"1,keyasint,omitempty"`
	Stderr uint64 `cbor:"2,keyasint,omitempty"`
}

// FilePutRequest writes a file from Stream: a new file replacing what was
// at Path (the reply is Empty), or, with InPlace, the stream's bytes
// written into the existing regular file at Path from Offset on, nothing
// else of the file changed (Mode unused; the reply is a WriteReply giving
// the bytes written and the file's size after them).
type FilePutRequest struct {
	Path    string `cbor:"1,keyasint"`
	Mode    uint32 `cbor:"2,keyasint"`
	Stream  uint64 `cbor:"3,keyasint"`
	Offset  int64  `cbor:"4,keyasint,omitempty"`
	InPlace bool   `cbor:"5,keyasint,omitempty"`
}

// FileFetchRequest reads a file into Stream: from byte Offset on, at most
// Length bytes when Length is above 0 (the whole file by default). The
// reply's FileInfo describes the whole file.
type FileFetchRequest struct {
	Path   string `cbor:"1,keyasint"`
	Stream uint64 `cbor:"2,keyasint"`
	Offset int64  `cbor:"3,keyasint,omitempty"`
	Length int64  `cbor:"4,keyasint,omitempty"`
}

// PathRequest names a path in a container.
type PathRequest struct {
	Path      string `cbor:"1,keyasint"`
	Mode      uint32 `cbor:"2,keyasint,omitempty"`
	Recursive bool   `cbor:"3,keyasint,omitempty"`
}

// RenameRequest moves a path within a container.
type RenameRequest struct {
	From string `cbor:"1,keyasint"`
	To   string `cbor:"2,keyasint"`
}

// FileInfo describes a file in a container.
type FileInfo struct {
	Name    string    `cbor:"1,keyasint"`
	Size    int64     `cbor:"2,keyasint"`
	Mode    uint32    `cbor:"3,keyasint"` // os.FileMode bits
	ModTime time.Time `cbor:"4,keyasint"`
	Link    string    `cbor:"5,keyasint,omitempty"` // a symlink's target as stored
	// Resolved is, for a symlink, where Link leads inside the container's
	// root (or the image's tree before start): every symlink on the way
	// followed, ".." stopping at the root, giving a clean absolute path
	// with no symlink in it when it was resolved (a missing tail is kept
	// as text). "" when the chain loops or is too long to follow.
	Resolved string `cbor:"6,keyasint,omitempty"`
	// The rest of stat(2), as the container sees it (ids inside its user
	// namespace); zero from a sender that does not fill them.
	Nlink  uint32 `cbor:"7,keyasint,omitempty"`
	Blocks int64  `cbor:"8,keyasint,omitempty"` // 512-byte blocks
	UID    uint32 `cbor:"9,keyasint,omitempty"`
	GID    uint32 `cbor:"10,keyasint,omitempty"`
	Atime  int64  `cbor:"11,keyasint,omitempty"` // nanoseconds since 1970
	Ctime  int64  `cbor:"12,keyasint,omitempty"` // nanoseconds since 1970
	Ino    uint64 `cbor:"13,keyasint,omitempty"`
	Rdev   uint64 `cbor:"14,keyasint,omitempty"`
	Full   bool   `cbor:"15,keyasint,omitempty"` // the fields above are filled
	Mtime  int64  `cbor:"16,keyasint,omitempty"` // ModTime in nanoseconds since 1970
}

// FileList lists a directory.
type FileList struct {
	Files []FileInfo `cbor:"1,keyasint"`
}

// SessionEnd tells a node a session is over: destroy its containers.
type SessionEnd struct {
	Session string `cbor:"1,keyasint"`
}

// ContainerExit reports that a container's main process exited.
type ContainerExit struct {
	Container string `cbor:"1,keyasint"`
	Code      int    `cbor:"2,keyasint"`
	Boot      int    `cbor:"3,keyasint,omitempty"` // which boot exited (see BootReply)
}

// BootReply answers a reboot or reset with the number of the new boot;
// exit events of earlier boots are stale.
type BootReply struct {
	Boot int `cbor:"1,keyasint"`
}

// ContainerGone reports that a container no longer exists.
type ContainerGone struct {
	Container string `cbor:"1,keyasint"`
	Reason    string `cbor:"2,keyasint"`
}

// ProcExit reports that a process exited.
type ProcExit struct {
	Container string `cbor:"1,keyasint"`
	Proc      string `cbor:"2,keyasint"`
	Code      int    `cbor:"3,keyasint"`
}

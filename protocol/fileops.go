package protocol

// File operations a mount needs to behave as a local filesystem: setattr,
// making links and special files, ranged reads and writes, fsync and
// statfs. Each names a path in a container, resolved by the node inside
// the container's root; a failure carries the errno the node's call gave
// (Error.Errno).
const (
	OpFileSetattr = "file.setattr" // SetattrRequest → FileInfo (the file after the change)
	OpFileMake    = "file.make"    // MakeRequest → FileInfo (what was made)
	OpFileRead    = "file.read"    // ReadRequest → ReadReply
	OpFileWrite   = "file.write"   // WriteRequest → WriteReply
	OpFileSync    = "file.sync"    // PathRequest → {}: fsync of a regular file or directory
	OpFileStatfs  = "file.statfs"  // PathRequest → Statfs: the filesystem holding the path

	// OpStart starts a container spawned with Hold: RebootRequest (its
	// output streams) → BootReply. ErrBusy when it was started already.
	OpStart = "start"
)

// Setattr fields (SetattrRequest.Valid).
const (
	SetMode  uint32 = 1 << iota // Mode: permission bits with setuid, setgid and sticky (S_ISUID… as in stat)
	SetUID                      // UID (as the container sees it)
	SetGID                      // GID (as the container sees it)
	SetSize                     // Size: truncate or extend (regular files only)
	SetAtime                    // Atime (AtimeNow: the node's clock)
	SetMtime                    // Mtime (MtimeNow: the node's clock)
)

// SetattrRequest changes the attributes of the file at Path itself: a
// final symlink is not followed (lchown, lutimes; chmod of a symlink is
// EOPNOTSUPP as on Linux).
type SetattrRequest struct {
	Path     string `cbor:"1,keyasint"`
	Valid    uint32 `cbor:"2,keyasint"`
	Mode     uint32 `cbor:"3,keyasint,omitempty"` // low 12 bits of st_mode
	UID      uint32 `cbor:"4,keyasint,omitempty"`
	GID      uint32 `cbor:"5,keyasint,omitempty"`
	Size     int64  `cbor:"6,keyasint,omitempty"`
	Atime    int64  `cbor:"7,keyasint,omitempty"` // nanoseconds since 1970
	Mtime    int64  `cbor:"8,keyasint,omitempty"` // nanoseconds since 1970
	AtimeNow bool   `cbor:"9,keyasint,omitempty"`
	MtimeNow bool   `cbor:"10,keyasint,omitempty"`
}

// Kinds of MakeRequest.
const (
	MakeFile    = "file"    // a regular file (Mode; Excl, Trunc as open's O_EXCL, O_TRUNC)
	MakeSymlink = "symlink" // a symbolic link to Target, stored as given
	MakeLink    = "link"    // a hard link to the container path Target (not followed if a symlink)
	MakeFIFO    = "fifo"    // a named pipe (Mode)
	MakeSocket  = "socket"  // a socket file (Mode)
	MakeDir     = "dir"     // a directory (Mode, setgid and sticky included)
)

// MakeRequest makes a file at Path. It is owned by the container's root;
// the parent must exist (ENOENT), the name must be free (EEXIST) unless
// Kind is MakeFile without Excl, which opens an existing regular file
// (truncating it with Trunc). The node never opens what it makes, other
// than a regular file.
type MakeRequest struct {
	Path   string `cbor:"1,keyasint"`
	Kind   string `cbor:"2,keyasint"`
	Mode   uint32 `cbor:"3,keyasint,omitempty"` // permission bits (umask applied by the caller)
	Target string `cbor:"4,keyasint,omitempty"`
	Excl   bool   `cbor:"5,keyasint,omitempty"`
	Trunc  bool   `cbor:"6,keyasint,omitempty"`
}

// ReadRequest reads at most Size bytes from Offset of the regular file at
// Path (symlinks followed inside the container).
type ReadRequest struct {
	Path   string `cbor:"1,keyasint"`
	Offset int64  `cbor:"2,keyasint,omitempty"`
	Size   int    `cbor:"3,keyasint"` // at most MaxIOSize
}

// ReadReply carries what was read: fewer bytes than asked only at the end.
type ReadReply struct {
	Data []byte `cbor:"1,keyasint,omitempty"`
}

// WriteRequest writes Data at Offset of the regular file at Path (pwrite,
// or at its end with Append); the bytes are in the container's file when
// the reply comes, on its disk as well with Sync.
type WriteRequest struct {
	Path   string `cbor:"1,keyasint"`
	Offset int64  `cbor:"2,keyasint,omitempty"`
	Data   []byte `cbor:"3,keyasint,omitempty"` // at most MaxIOSize
	Append bool   `cbor:"4,keyasint,omitempty"`
	Sync   bool   `cbor:"5,keyasint,omitempty"`
}

// WriteReply says how many bytes were written and the file's size after.
type WriteReply struct {
	N    int   `cbor:"1,keyasint"`
	Size int64 `cbor:"2,keyasint"`
}

// MaxIOSize bounds the data of one ReadRequest or WriteRequest.
const MaxIOSize = 512 << 10

// Statfs describes the filesystem holding a path (statfs(2)).
type Statfs struct {
	Blocks  uint64 `cbor:"1,keyasint"`
	Bfree   uint64 `cbor:"2,keyasint"`
	Bavail  uint64 `cbor:"3,keyasint"`
	Files   uint64 `cbor:"4,keyasint"`
	Ffree   uint64 `cbor:"5,keyasint"`
	Bsize   uint32 `cbor:"6,keyasint"`
	Namelen uint32 `cbor:"7,keyasint"`
	Frsize  uint32 `cbor:"8,keyasint"`
}

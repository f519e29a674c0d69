package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Containers are hardened by default (images and containers are untrusted):
//
//   - a user namespace: container uid/gid 0..Size-1 are host ids
//     UIDStart..UIDStart+Size-1, so container root is not host root. Every
//     container of a node uses the same range (so the remapped image below
//     is shared): containers are kept apart from each other by their
//     namespaces and roots, not by distinct host ids.
//   - containerd's default seccomp profile (the one Docker uses), for the
//     node's native architecture only (see withNativeSeccompArch).
//   - Docker's default capability set without CAP_MKNOD and CAP_NET_RAW.
//   - a pids limit and, when the spawn gives none, a memory limit.
//
// How the image's files get owned by the range: containerd 1.6 (the daemon
// here, Debian's 1.6.20) and runc 1.1 cannot idmap the root filesystem's
// mount, so the image's unpacked snapshot is copied once per (image chain,
// uid range) with every owner shifted into the range (a "remapped
// snapshot", as containerd's client.WithUserNSRemappedSnapshot makes) and
// committed; containers are then prepared on top of it like on the plain
// image, at the same cost. The copy is kept under the node's blob lease, so
// it outlives the containers made from it and is made again only for a new
// image (or range). Measured on the 2-core test VM with busybox (2 MB,
// 270 entries): the copy takes 20-200 ms, once (overlayfs copies up every
// file it chowns, so a big image costs one full copy); later spawns only
// prepare on top of it. A container's user namespace costs about 3-6 ms
// per spawn (userns.go) and the seccomp filter about 10 ms per process start;
// bench/BenchmarkSpawnToRunning measures spawns with and without the
// hardening against plain containerd.
// Idmapped mounts (containerd >= 2.0 with runc >= 1.2) would avoid the
// copy but need a newer daemon and runtime than the node's distribution
// ships; the one-time copy is cheap enough that it is not worth it.
//
// Files the node writes into a container on a client's behalf (Put, Mkdir,
// pre-boot files) are owned by the container's root (host UIDStart), so
// the container's root can change them.

// Defaults of Hardening.
const (
	DefaultUIDStart  = 100000
	DefaultUIDSize   = 65536
	DefaultPidsLimit = 1024
	DefaultMemory    = 1 << 30
)

// dockerDefaultCaps is Docker's (and containerd's) default capability set.
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// droppedCaps are removed from Docker's default set unless a Relax asks.
var droppedCaps = []string{"CAP_MKNOD", "CAP_NET_RAW"}

// Hardening is a node's default confinement of its containers.
type Hardening struct {
	// UIDStart is the first host uid (and gid) of the user namespace's
	// range; 0 = DefaultUIDStart.
	UIDStart uint32
	// UIDSize is the number of ids in the range; 0 = DefaultUIDSize.
	UIDSize uint32
	// PidsLimit caps the number of processes of a container; 0 =
	// DefaultPidsLimit, <0 = unlimited.
	PidsLimit int64
	// Memory is the memory limit in bytes of a container whose Spec gives
	// none; 0 = DefaultMemory, <0 = unlimited.
	Memory int64
}

// withDefaults fills the zero fields and checks the range.
func (h Hardening) withDefaults() (Hardening, error) {
	if h.UIDStart == 0 {
		h.UIDStart = DefaultUIDStart
	}
	if h.UIDSize == 0 {
		h.UIDSize = DefaultUIDSize
	}
	if uint64(h.UIDStart)+uint64(h.UIDSize) > 1<<31 {
		return h, fmt.Errorf("uid range %d+%d beyond 2^31: %w", h.UIDStart, h.UIDSize, ErrInvalid)
	}
	if h.PidsLimit == 0 {
		h.PidsLimit = DefaultPidsLimit
	}
	if h.Memory == 0 {
		h.Memory = DefaultMemory
	}
	return h, nil
}

// Relax lists relaxations of the node's hardening for one container. Each
// gives a container more power over the node; only a trusted image should
// get them (the node decides who may ask).
type Relax struct {
	// HostUsers runs the container without a user namespace: its root is
	// the node's root.
	HostUsers bool
	// NoSeccomp runs the container without a seccomp filter.
	NoSeccomp bool
	// Caps are capabilities added to the default set, e.g. "CAP_MKNOD".
	// Device nodes and raw sockets of the node's network need HostUsers
	// as well: in a user namespace these capabilities do not reach them.
	Caps []string
}

// IsZero reports whether r relaxes nothing.
func (r Relax) IsZero() bool { return !r.HostUsers && !r.NoSeccomp && len(r.Caps) == 0 }

var capName = regexp.MustCompile(`^CAP_[A-Z_]+$`)

// Check validates the capability names.
func (r Relax) Check() error {
	for _, c := range r.Caps {
		if !capName.MatchString(c) || !slices.Contains(cap.Known(), c) {
			return fmt.Errorf("unknown capability %q: %w", c, ErrInvalid)
		}
	}
	return nil
}

// idMaps are the user namespace mappings of the node's range.
func (h Hardening) idMaps() (uids, gids []specs.LinuxIDMapping) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: h.UIDStart, Size: h.UIDSize}}
	return m, m
}

// owner is the host uid/gid that is root inside a container.
type owner struct{ uid, gid int }

// hostRoot is the owner of a container without a user namespace.
var hostRoot = owner{0, 0}

// rootOwner returns the host ids of the container's root.
func (r *Runtime) rootOwner(s Spec) owner {
	if s.Relax.HostUsers {
		return hostRoot
	}
	return owner{int(r.hard.UIDStart), int(r.hard.UIDStart)}
}

// hardenOpts are the spec options of the node's hardening, minus what s
// relaxes; the user namespace is the one named nsName (see userns.go). They come after the image config and the process settings
// (the seccomp profile depends on the capabilities).
func (r *Runtime) hardenOpts(s Spec, nsName string) []oci.SpecOpts {
	h := r.hard
	caps := slices.DeleteFunc(slices.Clone(dockerDefaultCaps), func(c string) bool { return slices.Contains(droppedCaps, c) })
	for _, c := range s.Relax.Caps {
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	opts := []oci.SpecOpts{oci.WithCapabilities(caps)}
	if !s.Relax.HostUsers {
		uids, gids := h.idMaps()
		opts = append(opts, oci.WithUserNamespace(uids, gids), oci.WithLinuxNamespace(specs.LinuxNamespace{
			Type: specs.UserNamespace,
			Path: filepath.Join(usernsDir, nsName),
		}))
	}
	if !s.Relax.NoSeccomp {
		opts = append(opts, seccomp.WithDefaultProfile(), withNativeSeccompArch)
	}
	if h.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(h.PidsLimit))
	}
	if s.Memory == 0 && h.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(h.Memory)))
	}
	return opts
}

// allowTraverse adds search permission for others (o+x, never read) to dir
// and every directory above it that lacks it. A private containerd keeps
// its containers' bundles below its dir, and runc enters them as the
// container's root, which in a user namespace is an unprivileged host uid.
func allowTraverse(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o001|fi.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
				return fmt.Errorf("let containers in a user namespace reach %s: %w", d, err)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// nativeArch is the seccomp architecture of the node's own system calls.
var nativeArch = map[string]specs.Arch{
	"amd64": specs.ArchX86_64, "arm64": specs.ArchAARCH64, "s390x": specs.ArchS390X,
	"riscv64": specs.ArchRISCV64, "ppc64le": specs.ArchPPC64LE, "loong64": specs.ArchLOONGARCH64,
}[goruntime.GOARCH]

// withNativeSeccompArch keeps only the native architecture in the seccomp
// profile (containerd's default lists i386 and x32 as well on amd64), so
// system calls through the 32-bit compat entry points are refused: 32-bit
// binaries do not run in a hardened container (a trusted image may run
// them with NoSeccomp). The compat entry is an old attack surface of the
// kernel, and compiling the filter for three architectures made runc
// (1.1.5, libseccomp 2.5.4) about 40 ms slower on every process start,
// exec included, on the 2-core test VM (native only: about 10 ms).
func withNativeSeccompArch(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
	if nativeArch != "" && s.Linux != nil && s.Linux.Seccomp != nil {
		s.Linux.Seccomp.Architectures = []specs.Arch{nativeArch}
	}
	return nil
}

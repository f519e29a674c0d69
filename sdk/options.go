package sdk

import (
	"log/slog"
	"time"

	"github.com/tffs/tffs/protocol"
)

// Option configures Connect.
type Option func(*connectConfig)

type connectConfig struct {
	dir       string
	location  string
	loc       *LocationConfig
	keys      *protocol.KeyPair
	log       *slog.Logger
	heartbeat time.Duration
	onAdded   func(NodeInfo)
	onGone    func(NodeInfo)
	onGoneCtr func(*Container, string)

	onVolume func(string, VolumeInfo) // volume.go
}

// WithDir reads keys and location configs from dir instead of ~/.tffs.
func WithDir(dir string) Option { return func(c *connectConfig) { c.dir = dir } }

// WithLocation picks a stored location config by name.
func WithLocation(name string) Option { return func(c *connectConfig) { c.location = name } }

// WithMaster connects to a master directly, without a stored config.
func WithMaster(addr, publicKey string) Option {
	return func(c *connectConfig) { c.loc = &LocationConfig{Name: "direct", Master: addr, MasterKey: publicKey} }
}

// WithKeyPair uses the given client key pair instead of the stored one.
func WithKeyPair(kp protocol.KeyPair) Option { return func(c *connectConfig) { c.keys = &kp } }

// WithLogger sets the logger for the session's diagnostics.
func WithLogger(l *slog.Logger) Option { return func(c *connectConfig) { c.log = l } }

// WithHeartbeat sets how often the session pings the master (default 5s).
func WithHeartbeat(d time.Duration) Option { return func(c *connectConfig) { c.heartbeat = d } }

// OnNodeAdded calls f (on the callback goroutine) when a node joins.
func OnNodeAdded(f func(NodeInfo)) Option { return func(c *connectConfig) { c.onAdded = f } }

// OnNodeGone calls f (on the callback goroutine) when a node leaves.
func OnNodeGone(f func(NodeInfo)) Option { return func(c *connectConfig) { c.onGone = f } }

// OnContainerGone calls f when one of the session's containers disappears
// without being destroyed by this session (its node left or restarted).
func OnContainerGone(f func(ctr *Container, reason string)) Option {
	return func(c *connectConfig) { c.onGoneCtr = f }
}

// SpawnOption configures SpawnContainer.
type SpawnOption func(*spawnConfig)

type spawnConfig struct {
	req      protocol.SpawnRequest
	onStdout func([]byte)
	onStderr func([]byte)
	onExit   func(int)
}

// Command replaces the image's entrypoint and command.
func Command(args ...string) SpawnOption { return func(c *spawnConfig) { c.req.Args = args } }

// Env adds KEY=VALUE variables to the image's environment.
func Env(kv ...string) SpawnOption {
	return func(c *spawnConfig) { c.req.Env = append(c.req.Env, kv...) }
}

// WorkDir sets the working directory of the main process.
func WorkDir(dir string) SpawnOption { return func(c *spawnConfig) { c.req.Cwd = dir } }

// User sets the user of the main process (name or uid[:gid]).
func User(user string) SpawnOption { return func(c *spawnConfig) { c.req.User = user } }

// Name names the container; names are unique within a session.
func Name(name string) SpawnOption { return func(c *spawnConfig) { c.req.Name = name } }

// Tag names the container for the other sessions of the account (see
// CheckTag); a tag is unique among the account's live containers.
func Tag(tag string) SpawnOption { return func(c *spawnConfig) { c.req.Tag = tag } }

// CheckTag reports whether tag is a valid container tag (ErrInvalid if not).
func CheckTag(tag string) error { return protocol.CheckTag(tag) }

// Hostname sets the container's hostname (default: its id).
func Hostname(h string) SpawnOption { return func(c *spawnConfig) { c.req.Hostname = h } }

// CPUs limits the container to n CPUs (fractions allowed).
func CPUs(n float64) SpawnOption { return func(c *spawnConfig) { c.req.CPUs = n } }

// Memory limits the container's memory in bytes.
func Memory(bytes int64) SpawnOption { return func(c *spawnConfig) { c.req.Memory = bytes } }

// PreBootFile writes a file (mode 0644) into the container's filesystem
// before its first process starts.
func PreBootFile(path string, data []byte) SpawnOption {
	return PreBootFileMode(path, data, 0o644)
}

// PreBootFileMode is PreBootFile with a mode.
func PreBootFileMode(path string, data []byte, mode uint32) SpawnOption {
	return func(c *spawnConfig) {
		c.req.Files = append(c.req.Files, protocol.File{Path: path, Mode: mode, Data: data})
	}
}

// Asleep starts the container with no main workload, for processes only.
func Asleep() SpawnOption { return func(c *spawnConfig) { c.req.Asleep = true } }

// Containers run hardened by default: in a user namespace (container root
// is an unprivileged user of the node), under containerd's default seccomp
// profile, without CAP_MKNOD and CAP_NET_RAW, with pids and memory limits.
// The options below are relaxations of that hardening for a trusted image:
// each gives the container more power over its node. A node grants them
// only for images its operator listed as trusted (`tffs node
// --trusted-images`); otherwise the spawn fails with ErrPermission.

// Trusted is a relaxation: the container runs as under plain containerd,
// without user namespace (its root is the node's root), without seccomp
// filter, with containerd's default capabilities (CAP_MKNOD and
// CAP_NET_RAW included). The node's pids and memory limits still apply.
func Trusted() SpawnOption {
	return func(c *spawnConfig) {
		r := c.relax()
		r.HostUsers, r.NoSeccomp = true, true
		r.Caps = append(r.Caps, "CAP_MKNOD", "CAP_NET_RAW")
	}
}

// HostUsers is a relaxation: the container runs without a user namespace,
// so its root is the node's root.
func HostUsers() SpawnOption { return func(c *spawnConfig) { c.relax().HostUsers = true } }

// NoSeccomp is a relaxation: the container runs without a seccomp filter.
func NoSeccomp() SpawnOption { return func(c *spawnConfig) { c.relax().NoSeccomp = true } }

// AddCapabilities is a relaxation: it adds Linux capabilities (e.g.
// "CAP_MKNOD", "CAP_NET_RAW", "CAP_SYS_PTRACE") to the container's default
// set. Those that act on devices or the node's network (CAP_MKNOD,
// CAP_NET_RAW, CAP_NET_ADMIN...) have effect only with HostUsers too.
func AddCapabilities(caps ...string) SpawnOption {
	return func(c *spawnConfig) { r := c.relax(); r.Caps = append(r.Caps, caps...) }
}

func (c *spawnConfig) relax() *protocol.Relax {
	if c.req.Relax == nil {
		c.req.Relax = &protocol.Relax{}
	}
	return c.req.Relax
}

// OnStdout receives the main process's standard output, chunk by chunk.
func OnStdout(f func([]byte)) SpawnOption { return func(c *spawnConfig) { c.onStdout = f } }

// OnStderr receives the main process's standard error, chunk by chunk.
func OnStderr(f func([]byte)) SpawnOption { return func(c *spawnConfig) { c.onStderr = f } }

// OnExit is called with the main process's exit code when it exits.
func OnExit(f func(code int)) SpawnOption { return func(c *spawnConfig) { c.onExit = f } }

// ProcOption configures Container.Spawn.
type ProcOption func(*protocol.ExecRequest)

// ProcEnv adds KEY=VALUE variables to the process's environment.
func ProcEnv(kv ...string) ProcOption {
	return func(r *protocol.ExecRequest) { r.Env = append(r.Env, kv...) }
}

// ProcDir sets the process's working directory.
func ProcDir(dir string) ProcOption { return func(r *protocol.ExecRequest) { r.Cwd = dir } }

// TTY runs the process on a pseudo-terminal of the given size.
func TTY(width, height uint32) ProcOption {
	return func(r *protocol.ExecRequest) { r.TTY, r.Width, r.Height = true, width, height }
}

// ProcID names the process (default: a fresh id).
func ProcID(id string) ProcOption { return func(r *protocol.ExecRequest) { r.Proc = id } }

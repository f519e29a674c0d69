package runtime

import (
	"fmt"
	"os"
	"path"

	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mount bind-mounts a directory of the node (a volume's data) into a
// container.
type Mount struct {
	Source   string // absolute node path
	Dest     string // absolute container path
	ReadOnly bool
}

// mountOpts are the spec options of a spec's volume mounts: private
// recursive binds, never setuid or device nodes.
func mountOpts(s Spec) []oci.SpecOpts {
	if len(s.Mounts) == 0 {
		return nil
	}
	var ms []specs.Mount
	for _, m := range s.Mounts {
		opts := []string{"rbind", "rprivate", "nosuid", "nodev"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		ms = append(ms, specs.Mount{Destination: path.Clean(m.Dest), Type: "bind", Source: m.Source, Options: opts})
	}
	return []oci.SpecOpts{oci.WithMounts(ms)}
}

// checkMounts refuses a mount that is not absolute on both sides or that
// covers the container's root.
func checkMounts(s Spec) error {
	for _, m := range s.Mounts {
		if _, base, err := splitPath(m.Dest); err != nil || base == "" {
			return fmt.Errorf("volume mount point %q: %w", m.Dest, ErrInvalid)
		}
		if !path.IsAbs(m.Source) {
			return fmt.Errorf("volume source %q: %w", m.Source, ErrInvalid)
		}
	}
	return nil
}

// DirFiles gives access to the files of a directory of the node (a
// volume's data) with the rules of a container's files: paths are resolved
// inside dir (".." and symlinks cannot leave it), only regular files are
// read, and what is made is owned by a hardened container's root. Only
// the file methods (Put, Fetch, FetchRange, Stat, List, Mkdir, Remove,
// Rename) may be called on the result.
func (r *Runtime) DirFiles(dir string) *Container {
	return &Container{r: r, id: "dir:" + dir, dirRoot: dir, owner: r.ContainerRoot()}
}

// ContainerRoot is the node's owner of what is root in a hardened
// container (the first id of the user namespace range).
func (r *Runtime) ContainerRoot() owner {
	return owner{int(r.hard.UIDStart), int(r.hard.UIDStart)}
}

// UIDGID are the ids of o.
func (o owner) UIDGID() (uid, gid int) { return o.uid, o.gid }

// withDirRoot calls fn with an O_PATH handle of c.dirRoot (never a symlink).
func (c *Container) withDirRoot(fn func(root *os.File) error) error {
	root, err := os.OpenFile(c.dirRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return wrapErr(err, "volume directory")
	}
	defer root.Close()
	return fn(root)
}

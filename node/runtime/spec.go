package runtime

import (
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sleepArgs is the PID 1 of an asleep container. It needs a `sleep` in the
// image (busybox or coreutils) that accepts a large number of seconds.
var sleepArgs = []string{"sleep", "2147483647"}

// cpuPeriod is the CFS period used for Spec.CPUs (100 ms).
const cpuPeriod = 100000

// specOpts turns a Spec into OCI spec options on top of the image config,
// hardened as the runtime's Hardening and the spec's Relax say.
func (r *Runtime) specOpts(img client.Image, s Spec, netnsName string) []oci.SpecOpts {
	opts := []oci.SpecOpts{oci.WithImageConfig(img)}
	switch {
	case s.Asleep:
		opts = append(opts, oci.WithProcessArgs(sleepArgs...))
	case len(s.Args) > 0:
		opts = append(opts, oci.WithProcessArgs(s.Args...))
	}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	if s.Cwd != "" {
		opts = append(opts, oci.WithProcessCwd(s.Cwd))
	}
	if s.User != "" {
		opts = append(opts, oci.WithUser(s.User))
	}
	if s.Hostname != "" {
		opts = append(opts, oci.WithHostname(s.Hostname))
	}
	if s.CPUs > 0 {
		opts = append(opts, oci.WithCPUCFS(int64(s.CPUs*cpuPeriod), cpuPeriod))
	}
	if s.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(s.Memory)))
	}
	opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{
		Type: specs.NetworkNamespace,
		Path: filepath.Join(netnsDir, netnsName),
	}))
	opts = append(opts, mountOpts(s)...)
	return append(opts, r.hardenOpts(s, netnsName)...)
}

package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces are bind-mounted (as by
// `ip netns` and vishvananda/netns).
const netnsDir = "/run/netns"

// netnsPrefix is the prefix of every netns name of this runtime. The
// namespace is part of it so nodes sharing a machine never touch each
// other's namespaces ('+' cannot occur in containerd identifiers).
func (r *Runtime) netnsPrefix() string { return r.cfg.Namespace + "+" }

// netnsName is the name of container id's network namespace.
func (r *Runtime) netnsName(id string) string { return r.netnsPrefix() + id }

// createNetns creates the named network namespace with loopback up. The
// calling goroutine's thread is switched into it and back; if switching
// back fails the thread stays locked and is discarded by the Go runtime.
func createNetns(name string) (retErr error) {
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer origin.Close()
	ns, err := netns.NewNamed(name)
	// NewNamed may have switched the thread even when it failed.
	if serr := netns.Set(origin); serr != nil {
		// Leave the thread locked: it is in the wrong namespace and
		// will be terminated when this goroutine exits.
		_ = deleteNetns(name)
		return fmt.Errorf("restore netns: %w", serr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("netns %s: %w", name, ErrExists)
		}
		_ = deleteNetns(name)
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	defer ns.Close()
	defer func() {
		if retErr != nil {
			_ = deleteNetns(name)
		}
	}()
	return loUp(ns, name)
}

// loUp sets the loopback interface of network namespace ns up.
func loUp(ns netns.NsHandle, name string) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns %s: %w", name, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns %s: find lo: %w", name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netns %s: lo up: %w", name, err)
	}
	return nil
}

// deleteNetns unmounts and removes a named network namespace and the user
// namespace that owns it, if any; a missing one is not an error.
func deleteNetns(name string) error {
	for _, p := range []string{filepath.Join(netnsDir, name), filepath.Join(usernsDir, name)} {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("unmount namespace %s: %w", p, err)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove namespace %s: %w", p, err)
		}
	}
	return nil
}

// listNetns returns the names of named network namespaces with prefix.
func listNetns(prefix string) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

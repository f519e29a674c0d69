package fs

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tffs/tffs/sdk"
)

// ctrNet is a container's network state in the mount: its tunnels, by
// local port.
type ctrNet struct {
	mu      sync.Mutex
	tunnels map[int]*sdk.Tunnel
}

// tunnelsOf holds every container's network state (kept beside ctr so
// the container's own struct stays as it is).
var tunnelsOf sync.Map // *ctr → *ctrNet

func (c *ctr) net() *ctrNet {
	v, _ := tunnelsOf.LoadOrStore(c, &ctrNet{tunnels: map[int]*sdk.Tunnel{}})
	return v.(*ctrNet)
}

// ipText is the content of the container's ip file: its address once it
// has one.
func (c *ctr) ipText() []byte {
	sc := c.started()
	if sc == nil || sc.IP() == "" {
		return nil
	}
	return []byte(sc.IP() + "\n")
}

// tunnelsText lists the container's open tunnels, one "LOCALPORT PORT
// ADDR" line each.
func (c *ctr) tunnelsText() []byte {
	n := c.net()
	n.mu.Lock()
	defer n.mu.Unlock()
	ports := make([]int, 0, len(n.tunnels))
	for p, t := range n.tunnels {
		select {
		case <-t.Done():
			delete(n.tunnels, p)
			continue
		default:
		}
		ports = append(ports, p)
	}
	sort.Ints(ports)
	var b strings.Builder
	for _, p := range ports {
		t := n.tunnels[p]
		fmt.Fprintf(&b, "%d %d %s\n", p, t.Port(), t.Addr())
	}
	return []byte(b.String())
}

// infoJSON describes the container: name, node, image, state, address
// and tunnels.
func (c *ctr) infoJSON() []byte {
	c.mu.Lock()
	info := map[string]any{"name": c.name, "node": c.node, "image": strings.TrimSpace(c.image), "state": c.state.String()}
	if c.state == stateExited {
		info["exit"] = c.code
	}
	if c.c != nil {
		info["id"] = c.c.ID
		info["ip"] = c.c.IP()
	}
	c.mu.Unlock()
	var tunnels []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(c.tunnelsText())), "\n") {
		var lp, p int
		var addr string
		if _, err := fmt.Sscan(l, &lp, &p, &addr); err == nil {
			tunnels = append(tunnels, map[string]any{"localport": lp, "port": p, "addr": addr})
		}
	}
	info["tunnels"] = tunnels
	b, _ := json.MarshalIndent(info, "", "  ")
	return append(b, '\n')
}

// netCtl carries out allow, disallow, tunnel and untunnel.
func (c *ctr) netCtl(ctx context.Context, verb, rest string) error {
	sc := c.started()
	if sc == nil || c.isDestroyed() {
		return c.fail(failf(syscall.EBUSY, "ctl: %s: the container is not started", verb))
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	switch verb {
	case "allow", "disallow":
		if rest == "" || strings.ContainsAny(rest, " \t") {
			return c.fail(failf(syscall.EINVAL, "ctl: %s takes one container name or externals/TAG", verb))
		}
		if tag, ok := strings.CutPrefix(rest, "externals/"); ok {
			ext, err := c.f.loc.External(cctx, strings.TrimSuffix(tag, "/"))
			if err != nil {
				return c.fail(err)
			}
			if verb == "allow" {
				err = sc.AllowConnectionFrom(cctx, ext)
			} else {
				err = sc.DisallowConnectionFrom(cctx, ext)
			}
			if err != nil {
				return c.fail(err)
			}
			return nil
		}
		c.f.mu.Lock()
		other := c.f.ctrs[rest]
		c.f.mu.Unlock()
		if other == nil {
			return c.fail(failf(syscall.ENOENT, "ctl: %s: no container %q in this session", verb, rest))
		}
		osc := other.started()
		if osc == nil {
			return c.fail(failf(syscall.EBUSY, "ctl: %s: container %q is not started", verb, rest))
		}
		var err error
		if verb == "allow" {
			err = sc.AllowConnectionFrom(cctx, osc)
		} else {
			err = sc.DisallowConnectionFrom(cctx, osc)
		}
		if err != nil {
			return c.fail(err)
		}
		return nil
	case "tunnel":
		f := strings.Fields(rest)
		if len(f) != 2 {
			return c.fail(failf(syscall.EINVAL, "ctl: tunnel takes PORT LOCALPORT"))
		}
		port, err1 := strconv.Atoi(f[0])
		local, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || port <= 0 || port > 65535 || local < 0 || local > 65535 {
			return c.fail(failf(syscall.EINVAL, "ctl: tunnel: bad port in %q", rest))
		}
		n := c.net()
		n.mu.Lock()
		defer n.mu.Unlock()
		if t := n.tunnels[local]; t != nil && local != 0 {
			select {
			case <-t.Done():
			default:
				return c.fail(failf(syscall.EEXIST, "ctl: tunnel: local port %d is in use by this container's tunnel to %d", local, t.Port()))
			}
		}
		t, err := sc.AttachTunnel(context.WithoutCancel(cctx), port, local)
		if err != nil {
			return c.fail(failf(syscall.EADDRINUSE, "ctl: tunnel: %v", err))
		}
		n.tunnels[t.LocalPort()] = t
		c.f.emit("tunnel", "container", c.name, "port", port, "addr", t.Addr())
		return nil
	case "untunnel":
		local, err := strconv.Atoi(rest)
		if err != nil {
			return c.fail(failf(syscall.EINVAL, "ctl: untunnel takes LOCALPORT"))
		}
		n := c.net()
		n.mu.Lock()
		t := n.tunnels[local]
		delete(n.tunnels, local)
		n.mu.Unlock()
		if t == nil {
			return c.fail(failf(syscall.ENOENT, "ctl: untunnel: no tunnel on local port %d", local))
		}
		t.Close()
		return nil
	}
	return c.fail(failf(syscall.EINVAL, "ctl: unknown command %q", verb))
}

// closeTunnels ends the container's tunnels (the mount is going away).
func (c *ctr) closeTunnels() {
	v, ok := tunnelsOf.LoadAndDelete(c)
	if !ok {
		return
	}
	n := v.(*ctrNet)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.tunnels {
		t.Close()
	}
}

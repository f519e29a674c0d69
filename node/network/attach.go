package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
)

// Attach connects container id's network namespace (at nsPath) to the
// bridge: a veth pair whose inner end is eth0 with ip, a default route
// through the gateway, and the container's firewall (closed). On failure
// nothing is left.
func (n *Net) Attach(id, nsPath string, ip net.IP) (retErr error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subnet == nil {
		return fmt.Errorf("network: not ready")
	}
	if ip.To4() == nil || !n.subnet.Contains(ip) || ip.Equal(n.gw) {
		return fmt.Errorf("network: address %v is not a container address of %s", ip, n.subnet)
	}
	br, err := netlink.LinkByName(BridgeName(n.ns))
	if err != nil {
		return fmt.Errorf("network: bridge: %w", err)
	}
	ns, err := getNS(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	host := VethName(n.ns, id)
	tmp := "tp" + short(n.ns+"/"+id, 12)
	// The firewall first: the container is never reachable unguarded.
	if err := n.addGuard(id, ip); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = n.delGuard(id)
		}
	}()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MasterIndex: br.Attrs().Index, MTU: br.Attrs().MTU},
		PeerName: tmp, PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("network: add veth %s: %w", host, err)
	}
	defer func() {
		if retErr != nil {
			if l, err := netlink.LinkByName(host); err == nil {
				_ = netlink.LinkDel(l)
			}
		}
	}()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("network: netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	peer, err := h.LinkByName(tmp)
	if err != nil {
		return fmt.Errorf("network: find veth peer: %w", err)
	}
	if err := h.LinkSetName(peer, "eth0"); err != nil {
		return fmt.Errorf("network: rename veth peer: %w", err)
	}
	if err := h.AddrAdd(peer, &netlink.Addr{IPNet: &net.IPNet{IP: ip.To4(), Mask: n.subnet.Mask}}); err != nil {
		return fmt.Errorf("network: address %v: %w", ip, err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("network: eth0 up: %w", err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: peer.Attrs().Index, Gw: n.gw}); err != nil {
		return fmt.Errorf("network: default route: %w", err)
	}
	hl, err := netlink.LinkByName(host)
	if err != nil {
		return fmt.Errorf("network: veth %s: %w", host, err)
	}
	if err := netlink.LinkSetUp(hl); err != nil {
		return fmt.Errorf("network: veth %s up: %w", host, err)
	}
	return nil
}

// Detach removes container id's veth pair and firewall. Detaching one that
// is not attached is not an error.
func (n *Net) Detach(id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	if l, err := netlink.LinkByName(VethName(n.ns, id)); err == nil {
		// The pair also goes with the container's namespace, which may
		// be ending right now: gone in between is gone.
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENODEV) {
			errs = append(errs, fmt.Errorf("network: delete veth: %w", err))
		}
	}
	if err := n.delGuard(id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

package network

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
)

// The LAN across hosts is routed: each node routes every other node's
// container subnet to that node's address (its hosts must reach each
// other directly, e.g. on one L2 segment). Nothing is encapsulated, so a
// packet between nodes keeps its container addresses and the receiving
// node's firewall sees the real source. Routes are marked with routeProto
// so a node that restarts finds its own.
const routeProto = netlink.RouteProtocol(0x74) // 't'

// Peer is another node: the address this host reaches it on and its
// containers' subnet.
type Peer struct {
	Addr   string
	Subnet string
}

// SetPeers makes the host's routes to other nodes' subnets exactly peers
// (routes of this node that are not in it are removed).
func (n *Net) SetPeers(peers []Peer) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	want := map[string]net.IP{}
	for _, p := range peers {
		gw := net.ParseIP(p.Addr)
		_, sn, err := net.ParseCIDR(p.Subnet)
		if gw.To4() == nil || err != nil {
			continue
		}
		if n.subnet != nil && sn.String() == n.subnet.String() {
			continue
		}
		if local, _ := isLocal(gw); local {
			continue // a node on this very host: its bridge is a connected route
		}
		want[sn.String()] = gw
	}
	have, err := n.routes()
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range have {
		if gw, ok := want[r.Dst.String()]; ok && gw.Equal(r.Gw) {
			delete(want, r.Dst.String())
			continue
		}
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("network: delete route %s: %w", r.Dst, err))
		}
	}
	for dst, gw := range want {
		_, sn, _ := net.ParseCIDR(dst)
		if err := netlink.RouteReplace(&netlink.Route{Dst: sn, Gw: gw, Protocol: routeProto}); err != nil {
			errs = append(errs, fmt.Errorf("network: route %s via %s: %w", dst, gw, err))
		}
	}
	return errors.Join(errs...)
}

// routes lists this node's routes to peers.
func (n *Net) routes() ([]netlink.Route, error) {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("network: list routes: %w", err)
	}
	return rs, nil
}

// isLocal reports whether ip is an address of this host.
func isLocal(ip net.IP) (bool, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if a.IP.Equal(ip) {
			return true, nil
		}
	}
	return false, nil
}

// delRoutes removes this node's routes to peers. The caller holds n.mu.
func (n *Net) delRoutes() error {
	rs, err := n.routes()
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

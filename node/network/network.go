package network

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// ErrConflict is returned when the node's subnet is already routed on
// this host through another interface, or when a node is asked to change
// its subnet while containers use the old one.
var ErrConflict = errors.New("network: subnet conflict")

// Net is a node's container network. Its methods are safe for concurrent
// use. The zero value is not usable: make one with New.
type Net struct {
	ns  string
	log *slog.Logger

	mu     sync.Mutex
	subnet *net.IPNet // the node's subnet; nil until Ensure
	gw     net.IP
	lan    *net.IPNet // the location's range: not masqueraded
	nft    *nftables.Conn
}

// New returns the network of the node whose containerd namespace is
// namespace. Nothing is made until Ensure.
func New(namespace string, log *slog.Logger) *Net {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Net{ns: namespace, log: log}
}

// Subnet returns the node's subnet, or "" before Ensure.
func (n *Net) Subnet() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subnet == nil {
		return ""
	}
	return n.subnet.String()
}

// Ensure makes the bridge (with the subnet's first address as the
// gateway), the nftables table and the kernel settings the network needs.
// subnet and lan are CIDRs (e.g. 10.77.3.0/24 and 10.77.0.0/16); a second
// call with the same values does nothing.
func (n *Net) Ensure(subnet, lan string) error {
	_, sn, err := net.ParseCIDR(subnet)
	if err != nil || sn.IP.To4() == nil {
		return fmt.Errorf("network: subnet %q: not an IPv4 CIDR", subnet)
	}
	_, ln, err := net.ParseCIDR(lan)
	if err != nil || ln.IP.To4() == nil {
		return fmt.Errorf("network: range %q: not an IPv4 CIDR", lan)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subnet != nil {
		if n.subnet.String() == sn.String() && n.lan.String() == ln.String() {
			return nil
		}
		return fmt.Errorf("network: node has subnet %s, asked for %s: %w", n.subnet, sn, ErrConflict)
	}
	for _, kv := range [][2]string{{"/proc/sys/net/ipv4/ip_forward", "1"}, {"/proc/sys/net/bridge/bridge-nf-call-iptables", "1"}} {
		if err := os.WriteFile(kv[0], []byte(kv[1]), 0o644); err != nil {
			return fmt.Errorf("network: set %s: %w", kv[0], err)
		}
	}
	gw := nthIP(sn, 1)
	if err := n.ensureBridge(sn, gw); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("network: nftables: %w", err)
	}
	if err := installTable(c, n.table(), BridgeName(n.ns), sn, ln); err != nil {
		return fmt.Errorf("network: install nftables table: %w", err)
	}
	n.subnet, n.gw, n.lan, n.nft = sn, gw, ln, c
	n.log.Info("network ready", "bridge", BridgeName(n.ns), "subnet", sn, "gateway", gw)
	return nil
}

func (n *Net) table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName(n.ns)}
}

// ensureBridge makes (or takes over) the node bridge with gw/len.
func (n *Net) ensureBridge(sn *net.IPNet, gw net.IP) error {
	name := BridgeName(n.ns)
	// The subnet must not be routed through some other interface.
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("network: list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || !r.Dst.IP.Equal(sn.IP) || r.Dst.String() != sn.String() {
			continue
		}
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().Name != name {
			return fmt.Errorf("network: subnet %s is routed through %s on this host: %w", sn, l.Attrs().Name, ErrConflict)
		}
	}
	br, err := netlink.LinkByName(name)
	if err != nil {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("network: add bridge %s: %w", name, err)
		}
		if br, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("network: bridge %s: %w", name, err)
		}
	}
	want := &net.IPNet{IP: gw, Mask: sn.Mask}
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("network: bridge addresses: %w", err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
			continue
		}
		_ = netlink.AddrDel(br, &a)
	}
	if !have {
		if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: want}); err != nil {
			return fmt.Errorf("network: bridge address %s: %w", want, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("network: bridge up: %w", err)
	}
	return nil
}

// nthIP is the i-th address of a subnet.
func nthIP(sn *net.IPNet, i int) net.IP {
	ip := make(net.IP, 4)
	copy(ip, sn.IP.To4())
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	v += uint32(i)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
}

// Cleanup removes everything of this node's network from the host: every
// host-side veth of its containers (their peers go with them), the
// nftables table and the bridge. A node runs it when it starts (after a
// crash) and when it stops.
func (n *Net) Cleanup() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	links, err := netlink.LinkList()
	if err != nil {
		errs = append(errs, fmt.Errorf("network: list links: %w", err))
	}
	prefix := VethPrefix(n.ns)
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, prefix) || name == BridgeName(n.ns) {
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("network: delete %s: %w", name, err))
			}
		}
	}
	c, err := nftables.New()
	if err == nil {
		if tabs, lerr := c.ListTablesOfFamily(nftables.TableFamilyINet); lerr == nil {
			for _, t := range tabs {
				if t.Name == TableName(n.ns) {
					c.DelTable(t)
					err = c.Flush()
				}
			}
		} else {
			err = lerr
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("network: remove nftables table: %w", err))
	}
	if err := n.delRoutes(); err != nil {
		errs = append(errs, err)
	}
	n.subnet, n.gw, n.lan, n.nft = nil, nil, nil, nil
	return errors.Join(errs...)
}

// getNS opens a network namespace by path.
func getNS(path string) (netns.NsHandle, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return 0, fmt.Errorf("network: open netns %s: %w", path, err)
	}
	return h, nil
}

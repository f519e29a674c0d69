package network

import (
	"bytes"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The node's table (family inet):
//
//	chain forward { type filter hook forward priority filter; policy accept;
//	  ct state established,related accept
//	  ip daddr <A> ip saddr != @a-<A's id> drop      # one per container
//	}
//	chain input { type filter hook input priority filter; policy accept;
//	  iifname <bridge> ct state != established,related drop }
//	chain postrouting { type nat hook postrouting priority srcnat;
//	  ip saddr <subnet> ip daddr != <lan> masquerade }
//
// Bridged traffic between containers of the node passes the forward hook
// (br_netfilter, net.bridge.bridge-nf-call-iptables = 1), routed traffic
// from other nodes' containers too, so a container accepts new
// connections only from the sources in its set. Traffic from the node
// itself (tunnels dial inside the container's namespace) is not forwarded
// and not filtered.

func forwardChain(t *nftables.Table) *nftables.Chain {
	return &nftables.Chain{Name: "forward", Table: t}
}

func installTable(c *nftables.Conn, t *nftables.Table, bridge string, subnet, lan *net.IPNet) error {
	c.AddTable(t)
	// Start from an empty table: a node that restarts makes it again.
	c.FlushTable(t)
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	// Containers open no connection to the node itself (its services are
	// not theirs to use); the node's own connections into them get their
	// answers.
	in := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(bridge)},
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	exprs := ipv4()
	exprs = append(exprs, matchNet(12, subnet, expr.CmpOpEq)...)
	exprs = append(exprs, matchNet(16, lan, expr.CmpOpNeq)...)
	exprs = append(exprs, &expr.Masq{})
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: exprs})
	return c.Flush()
}

// ifname is an interface name as nftables compares it (NUL-padded).
func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

// ipv4 matches IPv4 packets (the table is inet).
func ipv4() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
}

// matchNet compares the IPv4 address at offset (12 source, 16
// destination) with a network.
func matchNet(offset uint32, n *net.IPNet, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: []byte(n.IP.To4())},
	}
}

// addGuard adds container id's set (empty: nobody may connect) and its
// drop rule. The caller holds n.mu.
func (n *Net) addGuard(id string, ip net.IP) error {
	if n.nft == nil {
		return fmt.Errorf("network: not ready")
	}
	t := n.table()
	set := &nftables.Set{Table: t, Name: setName(id), KeyType: nftables.TypeIPAddr}
	if err := n.nft.AddSet(set, nil); err != nil {
		return fmt.Errorf("network: add set: %w", err)
	}
	exprs := ipv4()
	exprs = append(exprs,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(ip.To4())},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, Invert: true},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
	n.nft.AddRule(&nftables.Rule{Table: t, Chain: forwardChain(t), Exprs: exprs, UserData: []byte(id)})
	if err := n.nft.Flush(); err != nil {
		return fmt.Errorf("network: add firewall of %s: %w", id, err)
	}
	return nil
}

// delGuard removes container id's drop rule and set. The caller holds n.mu.
func (n *Net) delGuard(id string) error {
	if n.nft == nil {
		return nil
	}
	t := n.table()
	rules, err := n.nft.GetRules(t, forwardChain(t))
	if err != nil {
		return fmt.Errorf("network: list rules: %w", err)
	}
	found := false
	for _, r := range rules {
		if bytes.Equal(r.UserData, []byte(id)) {
			if err := n.nft.DelRule(r); err != nil {
				return fmt.Errorf("network: delete rule: %w", err)
			}
			found = true
		}
	}
	if s, err := n.nft.GetSetByName(t, setName(id)); err == nil && s != nil {
		n.nft.DelSet(s)
		found = true
	}
	if !found {
		return nil
	}
	if err := n.nft.Flush(); err != nil {
		return fmt.Errorf("network: remove firewall of %s: %w", id, err)
	}
	return nil
}

// Allow lets src connect to container id (allow) or stops new connections
// from it (!allow). Allowing twice, or disallowing one not allowed, is
// not an error.
func (n *Net) Allow(id string, src net.IP, allow bool) error {
	if src.To4() == nil {
		return fmt.Errorf("network: source %v is not IPv4", src)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nft == nil {
		return fmt.Errorf("network: not ready")
	}
	set, err := n.nft.GetSetByName(n.table(), setName(id))
	if err != nil {
		return fmt.Errorf("network: container %s has no firewall: %w", id, err)
	}
	el := []nftables.SetElement{{Key: []byte(src.To4())}}
	if allow {
		err = n.nft.SetAddElements(set, el)
	} else {
		err = n.nft.SetDeleteElements(set, el)
	}
	if err != nil {
		return err
	}
	if err := n.nft.Flush(); err != nil {
		if !allow { // deleting an element that is not there
			return nil
		}
		return fmt.Errorf("network: firewall of %s: %w", id, err)
	}
	return nil
}

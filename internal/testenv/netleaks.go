package testenv

import (
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/tffs/tffs/node/network"
)

// NetState is what a node's network holds on this host: host-side veths
// of its containers, its bridge, and the rules and sets of its nftables
// table beyond the table's fixed ones.
type NetState struct {
	Veths, Bridges, Rules, Sets int
	Allowed                     int // elements of all the sets: sources let in
}

// InspectNet reads the network state of the node whose containerd
// namespace is namespace.
func InspectNet(t testing.TB, namespace string) NetState {
	t.Helper()
	var st NetState
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	for _, l := range links {
		switch name := l.Attrs().Name; {
		case strings.HasPrefix(name, network.VethPrefix(namespace)):
			st.Veths++
		case name == network.BridgeName(namespace):
			st.Bridges++
		}
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatalf("nftables: %v", err)
	}
	tab := &nftables.Table{Family: nftables.TableFamilyINet, Name: network.TableName(namespace)}
	if rules, err := c.GetRules(tab, &nftables.Chain{Name: "forward", Table: tab}); err == nil {
		st.Rules = max(len(rules)-1, 0) // the first one accepts established connections
	}
	if sets, err := c.GetSets(tab); err == nil {
		st.Sets = len(sets)
		for _, s := range sets {
			if els, err := c.GetSetElements(s); err == nil {
				st.Allowed += len(els)
			}
		}
	}
	return st
}

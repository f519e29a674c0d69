// Package network gives a node's containers their network: a node bridge
// with the gateway address of the node's subnet (the master allocates it),
// a veth pair per container into its network namespace with its address
// and default route, outbound NAT, and a firewall that is closed by
// default (one nftables table per node, a set of allowed sources per
// container). It also dials into a container's namespace for tunnels.
//
// Names are derived from the node's containerd namespace, so nodes that
// share a host never touch each other's links or rules: the bridge is
// "tb"+8 hex digits, a container's host-side veth "tv"+4+8 hex digits
// (interface names are at most 15 bytes), the table the namespace (with a "tffs-" prefix if it lacks one).
package network

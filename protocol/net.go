package protocol

// Network operations (client → master; the master checks ownership and
// forwards them to the container's node as noted).
const (
	// OpAllow: AllowRequest → {}: let Other connect to the container
	// (master → node: NodeAllow).
	OpAllow = "net.allow"
	// OpDisallow: AllowRequest → {}: new connections from Other are
	// refused again (master → node: NodeAllow).
	OpDisallow = "net.disallow"
	// OpTunnelDial: TunnelDial → {}: the node connects to Port inside the
	// container's network namespace (retrying until the request's
	// timeout), then carries the connection on two streams: Up (client →
	// node) and Down (node → client). The end of a stream is a half-close.
	OpTunnelDial = "tunnel.dial"
)

// NetConfig is a container's network as the master allocates it: its
// address in its node's subnet and the location's range (never
// masqueraded: containers of all nodes reach each other by address).
type NetConfig struct {
	IP     string `cbor:"1,keyasint"`
	Subnet string `cbor:"2,keyasint"` // the node's subnet, CIDR; its first address is the gateway
	LAN    string `cbor:"3,keyasint"` // the location's range, CIDR
}

// AllowRequest names the container (of the same session) whose
// connections the request's container accepts or refuses.
type AllowRequest struct {
	Other string `cbor:"1,keyasint,omitempty"` // container id or name
	Tag   string `cbor:"2,keyasint,omitempty"` // or: the tag of a container of another session of the account
}

// NodeAllow is an allow or disallow as the master forwards it: the
// source address, checked by the master.
type NodeAllow struct {
	IP string `cbor:"1,keyasint"`
}

// TunnelDial opens one tunnelled connection to Port in the container.
type TunnelDial struct {
	Port int    `cbor:"1,keyasint"`
	Up   uint64 `cbor:"2,keyasint"` // client → node stream
	Down uint64 `cbor:"3,keyasint"` // node → client stream
	// WaitMillis: how long the node retries a refused connection (the
	// server may not listen yet); 0 = try once.
	WaitMillis int64 `cbor:"4,keyasint,omitempty"`
}

// OpExternal: ExternalRequest → External: a tagged container of another
// session of the same account.
const OpExternal = "net.external"

// ExternalRequest names a tag.
type ExternalRequest struct {
	Tag string `cbor:"1,keyasint"`
}

// External is a tagged container as the other sessions of its account see
// it: its owner's firewall decides who may connect.
type External struct {
	Tag  string `cbor:"1,keyasint"`
	Name string `cbor:"2,keyasint"`
	Node string `cbor:"3,keyasint"`
	IP   string `cbor:"4,keyasint,omitempty"`
}

// NodePeer is another node as the master tells a node about it: the
// address the node reaches it on and the subnet of its containers.
type NodePeer struct {
	Name   string `cbor:"1,keyasint"`
	Addr   string `cbor:"2,keyasint"`
	Subnet string `cbor:"3,keyasint"`
}

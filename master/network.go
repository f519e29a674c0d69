package master

import (
	"crypto/rand"
	"fmt"
	"net"
	"sort"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/tffs/tffs/protocol"
)

// The location's private network: a /16 (Config.Network, or chosen at
// random in 10.64.0.0-10.191.0.0 on the first start and kept in the
// store), one /24 of it per node (allocated on the node's first spawn and
// kept in the store under the node's name), and one address of the
// node's /24 per container (kept in the container's record), so no two
// containers of the location share an address, across nodes and restarts.

var bucketNet = []byte("network") // "range" → CIDR; "node/<name>" → subnet index

// netState is the master's allocation state (owned by the actor).
type netState struct {
	lan     *net.IPNet
	subnets map[string]int // node name → index of its /24 in lan
	next    map[string]int // node name → where the next address search starts
}

// loadNetwork reads (or chooses and saves) the range and the node subnets.
func (m *Master) loadNetwork() error {
	m.net.subnets, m.net.next = map[string]int{}, map[string]int{}
	return m.store.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNet)
		if err != nil {
			return err
		}
		cidr := m.cfg.Network
		if cidr == "" {
			cidr = string(b.Get([]byte("range")))
		}
		if cidr == "" {
			cidr = freeRange()
		}
		_, lan, err := net.ParseCIDR(cidr)
		if err != nil || lan.IP.To4() == nil {
			return fmt.Errorf("master: network %q: not an IPv4 CIDR: %w", cidr, protocol.ErrInvalid)
		}
		if ones, _ := lan.Mask.Size(); ones != 16 {
			return fmt.Errorf("master: network %q: must be a /16: %w", cidr, protocol.ErrInvalid)
		}
		m.net.lan = lan
		if err := b.Put([]byte("range"), []byte(lan.String())); err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) > 5 && string(k[:5]) == "node/" {
				if i, err := strconv.Atoi(string(v)); err == nil {
					m.net.subnets[string(k[5:])] = i
				}
			}
			return nil
		})
	})
}

// freeRange picks a random /16 in 10.64.0.0-10.191.0.0 that no address of
// this host is in (other locations on the host use those).
func freeRange() string {
	var used []*net.IPNet
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				used = append(used, n)
			}
		}
	}
	var cidr string
	for try := 0; try < 64; try++ {
		var x [1]byte
		rand.Read(x[:])
		cidr = fmt.Sprintf("10.%d.0.0/16", 64+int(x[0])%128)
		_, r, _ := net.ParseCIDR(cidr)
		clash := false
		for _, u := range used {
			if r.Contains(u.IP) || u.Contains(r.IP) {
				clash = true
				break
			}
		}
		if !clash {
			break
		}
	}
	return cidr
}

// subnetOf returns node's /24, allocating it on first use.
func (m *Master) subnetOf(node string) (*net.IPNet, error) {
	i, ok := m.net.subnets[node]
	if !ok {
		used := map[int]bool{}
		for _, j := range m.net.subnets {
			used[j] = true
		}
		for j := 1; j < 256; j++ {
			if !used[j] {
				i, ok = j, true
				break
			}
		}
		if !ok {
			return nil, fmt.Errorf("no subnet left for node %s: %w", node, protocol.ErrLimit)
		}
		if err := m.store.put(bucketNet, "node/"+node, []byte(strconv.Itoa(i))); err != nil {
			return nil, fmt.Errorf("store subnet: %w", err)
		}
		m.net.subnets[node] = i
	}
	ip := m.net.lan.IP.To4()
	return &net.IPNet{IP: net.IPv4(ip[0], ip[1], byte(i), 0).To4(), Mask: net.CIDRMask(24, 32)}, nil
}

// allocIP chooses a free address on node for a new container.
func (m *Master) allocIP(node string) (*protocol.NetConfig, error) {
	sn, err := m.subnetOf(node)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, c := range m.containers {
		if c.ip != "" {
			used[c.ip] = true
		}
	}
	// Round robin from after the last one given: an address freed is
	// taken again as late as possible.
	start := m.net.next[node]
	for k := 0; k < 253; k++ {
		h := 2 + (start+k)%253
		ip := net.IPv4(sn.IP[0], sn.IP[1], sn.IP[2], byte(h)).String()
		if !used[ip] {
			m.net.next[node] = (start + k + 1) % 253
			return &protocol.NetConfig{IP: ip, Subnet: sn.String(), LAN: m.net.lan.String()}, nil
		}
	}
	return nil, fmt.Errorf("node %s has no free address: %w", node, protocol.ErrLimit)
}

// peersOf lists the online nodes other than n that have an address,
// with their subnets (allocated here if need be), for n's routes.
func (m *Master) peersOf(n *node) []protocol.NodePeer {
	if n.addr != "" {
		m.subnetOf(n.name) // its peers route to it from now on
	}
	var out []protocol.NodePeer
	for _, p := range m.nodes {
		if p == n || !p.online || p.addr == "" {
			continue
		}
		sn, err := m.subnetOf(p.name)
		if err != nil {
			continue
		}
		out = append(out, protocol.NodePeer{Name: p.name, Addr: p.addr, Subnet: sn.String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// allow checks an allow/disallow of the session's container and forwards
// it to the container's node with the other container's address.
func (m *Master) allow(s *session, msg *protocol.Msg) {
	c, ok := m.containers[msg.Container]
	if !ok || c.session != s.id {
		m.reply(s.id, msg, nil, fmt.Errorf("container %q: %w", msg.Container, protocol.ErrNotFound))
		return
	}
	var req protocol.AllowRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	var other *container
	if req.Tag != "" {
		other = m.taggedOf(s.account, req.Tag)
		if other == nil {
			m.reply(s.id, msg, nil, fmt.Errorf("external %q: %w", req.Tag, protocol.ErrNotFound))
			return
		}
	} else {
		other = m.containers[req.Other]
		if other == nil || other.session != s.id {
			other = nil
			if id, ok := s.names[req.Other]; ok {
				other = m.containers[id]
			}
		}
		if other == nil {
			m.reply(s.id, msg, nil, fmt.Errorf("container %q: %w", req.Other, protocol.ErrNotFound))
			return
		}
	}
	if other.ip == "" || c.ip == "" {
		m.reply(s.id, msg, nil, fmt.Errorf("container has no network address: %w", protocol.ErrUnavailable))
		return
	}
	if err := msg.SetBody(protocol.NodeAllow{IP: other.ip}); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	// Recorded before the node confirms: a revoke (the other container
	// goes) must reach every address that may be in the node's set.
	c.allow(other.ip, msg.Op == protocol.OpAllow)
	m.saveContainer(c)
	m.forwardToNode(s, msg)
}

func (c *container) allow(ip string, yes bool) {
	if !yes {
		delete(c.allowed, ip)
		return
	}
	if c.allowed == nil {
		c.allowed = map[string]bool{}
	}
	c.allowed[ip] = true
}

func (c *container) allowedList() []string {
	out := make([]string, 0, len(c.allowed))
	for ip := range c.allowed {
		out = append(out, ip)
	}
	sort.Strings(out)
	return out
}

// revoke takes a container that is gone out of every firewall that let
// it in, so its address, once given to another container, lets nothing
// in.
func (m *Master) revoke(gone *container) {
	if gone.tag != "" && gone.ip != "" {
		defer m.broadcastOffer() // one external less
	}
	if gone.ip == "" {
		return
	}
	for _, c := range m.containers {
		if !c.allowed[gone.ip] {
			continue
		}
		c.allow(gone.ip, false)
		m.saveContainer(c)
		if n := m.nodes[c.node]; n != nil && n.online {
			req, err := protocol.NewRequest(0, protocol.OpDisallow, protocol.NodeAllow{IP: gone.ip})
			if err == nil {
				req.Session, req.Container = c.session, c.id
				err = m.srv.Send(n.peer, req)
			}
			if err != nil {
				m.log.Warn("revoke: send to node failed", "node", n.name, "err", err)
			}
		}
	}
}

// taggedOf finds the live container of account with tag.
func (m *Master) taggedOf(account, tag string) *container {
	for _, c := range m.containers {
		if c.account == account && c.tag == tag && c.ip != "" {
			return c
		}
	}
	return nil
}

func (c *container) external() protocol.External {
	return protocol.External{Tag: c.tag, Name: c.name, Node: c.node, IP: c.ip}
}

// external answers a session's look-up of a tagged container of its account.
func (m *Master) external(s *session, msg *protocol.Msg) {
	var req protocol.ExternalRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	c := m.taggedOf(s.account, req.Tag)
	if c == nil {
		m.reply(s.id, msg, nil, fmt.Errorf("external %q: %w", req.Tag, protocol.ErrNotFound))
		return
	}
	m.reply(s.id, msg, c.external(), nil)
}

// offerFor is the resource offer as session s sees it: the nodes, its
// account's volumes, and the tagged containers of its account's other
// sessions.
func (m *Master) offerFor(s *session) protocol.Offer {
	o := m.offer()
	if s == nil {
		return o
	}
	o.Volumes = m.accountVolumes(s.account)
	for _, c := range m.containers {
		if c.account == s.account && c.session != s.id && c.tag != "" && c.ip != "" {
			o.Externals = append(o.Externals, c.external())
		}
	}
	sort.Slice(o.Externals, func(i, j int) bool { return o.Externals[i].Tag < o.Externals[j].Tag })
	m.gatewayOffer(s, &o)
	return o
}

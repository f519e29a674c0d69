package master

import (
	"crypto/rand"
	"fmt"
	"net"
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
}

// loadNetwork reads (or chooses and saves) the range and the node subnets.
func (m *Master) loadNetwork() error {
	m.net.subnets = map[string]int{}
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
			var x [1]byte
			rand.Read(x[:])
			cidr = fmt.Sprintf("10.%d.0.0/16", 64+int(x[0])%128)
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
	for h := 2; h < 255; h++ {
		ip := net.IPv4(sn.IP[0], sn.IP[1], sn.IP[2], byte(h)).String()
		if !used[ip] {
			return &protocol.NetConfig{IP: ip, Subnet: sn.String(), LAN: m.net.lan.String()}, nil
		}
	}
	return nil, fmt.Errorf("node %s has no free address: %w", node, protocol.ErrLimit)
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
	other := m.containers[req.Other]
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
	if other.ip == "" || c.ip == "" {
		m.reply(s.id, msg, nil, fmt.Errorf("container has no network address: %w", protocol.ErrUnavailable))
		return
	}
	if err := msg.SetBody(protocol.NodeAllow{IP: other.ip}); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	m.forwardToNode(s, msg)
}

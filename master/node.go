package master

import (
	"fmt"
	"sort"
	"time"

	"github.com/tffs/tffs/protocol"
)

// node is the master's view of a registered node.
type node struct {
	name     string
	peer     string // routing id of its connection
	boot     string
	online   bool
	lastSeen time.Time
	stats    protocol.NodeStats
	addr     string // where other nodes reach it ("" for none)
}

func (m *Master) handleNode(name string, in protocol.Incoming) {
	msg := in.Msg
	n := m.nodes[name]
	if n == nil {
		n = &node{name: name}
		m.nodes[name] = n
	}
	if n.online && n.peer != in.Peer && msg.Op != protocol.OpNodeHello {
		m.log.Warn("message from a stale node connection: dropped", "node", name)
		return
	}
	if msg.Kind == protocol.KindLinkReset {
		if n.online {
			m.log.Warn("link to a node reset: its containers are dropped", "node", n.name, "err", msg.Err)
			m.nodeGone(n, "link to the node lost")
		}
		return
	}
	n.lastSeen = time.Now()
	switch msg.Kind {
	case protocol.KindPing:
		m.srv.Send(in.Peer, m.pong())
	case protocol.KindBye:
		if n.online {
			m.log.Info("node left", "node", n.name)
			m.nodeGone(n, "node stopped")
		}
	case protocol.KindRequest:
		switch msg.Op {
		case protocol.OpNodeHello:
			m.nodeHello(n, in)
		case protocol.OpLayerGet:
			m.layerGet(n, msg)
		default:
			m.reply(in.Peer, msg, nil, fmt.Errorf("unknown node operation %q: %w", msg.Op, protocol.ErrInvalid))
		}
	case protocol.KindReply:
		if msg.Session == "" {
			m.calls.Resolve(msg)
			return
		}
		m.nodeReply(n, msg)
	case protocol.KindEvent:
		m.nodeEvent(n, msg)
	case protocol.KindData, protocol.KindAck:
		if msg.Session == "" {
			m.streams.Dispatch("node:"+n.name, msg)
			return
		}
		if _, ok := m.sessions[msg.Session]; ok {
			m.srv.Send(msg.Session, msg)
		}
	}
}

func (m *Master) nodeHello(n *node, in protocol.Incoming) {
	var h protocol.NodeHello
	if err := in.Msg.DecodeBody(&h); err != nil {
		m.reply(in.Peer, in.Msg, nil, err)
		return
	}
	if n.boot != "" && n.boot != h.Boot {
		m.dropNodeContainers(n, "node restarted")
	}
	wasOnline := n.online
	n.peer, n.boot, n.online, n.stats = in.Peer, h.Boot, true, h.Stats
	n.addr = h.Addr
	drop := m.settle(n, h.Containers)
	m.reply(in.Peer, in.Msg, protocol.NodeHelloReply{Master: m.incarnation, Drop: drop, Peers: m.peersOf(n)}, nil)
	if !wasOnline {
		m.cleanLeftovers(n)
		m.log.Info("node joined", "node", n.name)
		info := m.nodeInfo(n)
		for id := range m.sessions {
			m.event(id, protocol.EvNodeAdded, info)
		}
		m.broadcastOffer()
	}
}

// nodeGone marks a node offline and tells every session.
func (m *Master) nodeGone(n *node, reason string) {
	n.online = false
	m.dropNodeContainers(n, reason)
	info := m.nodeInfo(n)
	for id := range m.sessions {
		m.event(id, protocol.EvNodeGone, info)
	}
	m.broadcastOffer()
	m.streams.FailScope("node:"+n.name, fmt.Errorf("node %s gone: %w", n.name, protocol.ErrUnavailable))
}

// dropNodeContainers forgets the node's containers and tells their sessions.
func (m *Master) dropNodeContainers(n *node, reason string) {
	var ids []string
	defer func() { m.unsave("", ids) }()
	for id, c := range m.containers {
		if c.node == n.name {
			delete(m.containers, id)
			m.revoke(c)
			ids = append(ids, id)
			if s := m.sessions[c.session]; s != nil {
				delete(s.names, c.name)
				m.event(c.session, protocol.EvContainerGone, protocol.ContainerGone{Container: id, Reason: reason})
			}
		}
	}
}

func (m *Master) nodeReply(n *node, msg *protocol.Msg) {
	c := m.containers[msg.Container]
	switch {
	case msg.Op == protocol.OpSpawn && c != nil:
		if msg.Err != nil {
			m.forget(c)
		} else {
			var rep protocol.SpawnReply
			msg.DecodeBody(&rep)
			c.booted(rep.Boot)
			if rep.Boot == 0 {
				c.state = "created" // spawned with Hold: OpStart starts it
			}
			c.restored = false
			m.saveContainer(c)
			if c.tag != "" {
				m.broadcastOffer() // a new external
			}
			msg.SetBody(protocol.SpawnReply{ID: c.id, Name: c.name, Node: c.node, Boot: rep.Boot, IP: c.ip})
		}
	case msg.Op == protocol.OpDestroy && c != nil && msg.Err == nil:
		m.forget(c)
	case msg.Op == protocol.OpExec && c != nil:
		c.execReplied(msg)
	case (msg.Op == protocol.OpReboot || msg.Op == protocol.OpReset || msg.Op == protocol.OpStart) && c != nil && msg.Err == nil:
		var rep protocol.BootReply
		msg.DecodeBody(&rep)
		c.booted(rep.Boot)
		m.saveContainer(c)
	}
	if _, ok := m.sessions[msg.Session]; ok {
		m.srv.Send(msg.Session, msg)
	}
}

func (m *Master) forget(c *container) {
	delete(m.containers, c.id)
	m.revoke(c)
	m.unsave("", []string{c.id})
	if s := m.sessions[c.session]; s != nil && s.names[c.name] == c.id {
		delete(s.names, c.name)
	}
}

func (m *Master) nodeEvent(n *node, msg *protocol.Msg) {
	switch msg.Op {
	case protocol.OpNodeStats:
		var st protocol.NodeStats
		if msg.DecodeBody(&st) == nil {
			n.stats = st
			m.broadcastOffer()
		}
		return
	case protocol.EvContainerExit:
		var ev protocol.ContainerExit
		if msg.DecodeBody(&ev) == nil {
			if c := m.containers[ev.Container]; c != nil && c.node == n.name {
				c.exitedEvent(ev)
				m.saveContainer(c)
			}
		}
	case protocol.EvProcExit:
		var ev protocol.ProcExit
		if msg.DecodeBody(&ev) == nil {
			if c := m.containers[ev.Container]; c != nil && c.node == n.name {
				delete(c.procs, ev.Proc)
			}
		}
	case protocol.EvContainerGone:
		var ev protocol.ContainerGone
		if msg.DecodeBody(&ev) == nil {
			if c := m.containers[ev.Container]; c != nil && c.node == n.name {
				m.forget(c)
			}
		}
	}
	if msg.Session != "" {
		if _, ok := m.sessions[msg.Session]; ok {
			m.srv.Send(msg.Session, msg)
		}
	}
}

func (m *Master) nodeInfo(n *node) protocol.NodeInfo {
	st := n.stats
	return protocol.NodeInfo{Name: n.name, CPUs: st.CPUs, MemTotal: st.MemTotal, MemFree: st.MemFree,
		Load1: st.Load1, CPUUsage: st.CPUUsage, Containers: st.Containers}
}

// offer is the live resource offer: online nodes, best first.
func (m *Master) offer() protocol.Offer {
	o := protocol.Offer{Master: m.incarnation}
	for _, n := range m.nodes {
		if n.online {
			o.Nodes = append(o.Nodes, m.nodeInfo(n))
		}
	}
	sort.Slice(o.Nodes, func(i, j int) bool {
		si, sj := score(o.Nodes[i]), score(o.Nodes[j])
		if si != sj {
			return si < sj
		}
		return o.Nodes[i].Name < o.Nodes[j].Name
	})
	for i := range o.Nodes {
		o.Nodes[i].Rank = i + 1
	}
	return o
}

// score ranks a node: lower is better (less loaded, more free memory).
func score(n protocol.NodeInfo) float64 {
	cpus := float64(max(n.CPUs, 1))
	mem := 1.0
	if n.MemTotal > 0 {
		mem = 1 - float64(n.MemFree)/float64(n.MemTotal)
	}
	return n.Load1/cpus + n.CPUUsage + mem + 0.01*float64(n.Containers)
}

func (m *Master) broadcastOffer() {
	for id, s := range m.sessions {
		m.event(id, protocol.OpOffer, m.offerFor(s))
	}
}

// spawn records a new container and forwards it to the chosen node.
func (m *Master) spawn(s *session, msg *protocol.Msg) {
	var req protocol.SpawnRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	img, err := m.findImage(s.account, req.Image)
	if err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	mounts, volumes, err := m.spawnMounts(s.account, &req)
	if err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	var n *node
	if req.Node == "" {
		if o := m.offer(); len(o.Nodes) > 0 {
			n = m.nodes[o.Nodes[0].Name]
		}
	} else if n = m.nodes[req.Node]; n == nil || !n.online {
		n = nil
	}
	if n == nil {
		m.reply(s.id, msg, nil, fmt.Errorf("no node %q is available: %w", req.Node, protocol.ErrUnavailable))
		return
	}
	id := randomID(6)
	name := req.Name
	if name == "" {
		name = id
	}
	if !validName.MatchString(name) {
		m.reply(s.id, msg, nil, fmt.Errorf("container name %q: %w", name, protocol.ErrInvalid))
		return
	}
	if _, taken := s.names[name]; taken {
		m.reply(s.id, msg, nil, fmt.Errorf("container %q: %w", name, protocol.ErrExists))
		return
	}
	if err := m.checkContainerLimit(s.account); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	if req.Tag != "" {
		if err := m.checkTagFree(s.account, req.Tag); err != nil {
			m.reply(s.id, msg, nil, err)
			return
		}
	}
	nc, err := m.allocIP(n.name)
	if err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	c := &container{id: id, name: name, session: s.id, account: s.account, tag: req.Tag, node: n.name, image: req.Image, state: "starting", ip: nc.IP}
	c.volumes = volumes
	m.containers[id] = c
	s.names[name] = id
	m.saveContainer(c)
	fwd := &protocol.Msg{Kind: protocol.KindRequest, ID: msg.ID, Op: protocol.OpSpawn, Session: s.id, Container: id}
	if err := fwd.SetBody(protocol.NodeSpawn{ID: id, Request: req, Image: img, Account: s.account, Net: nc, Mounts: mounts}); err != nil {
		m.forget(c)
		m.reply(s.id, msg, nil, err)
		return
	}
	m.srv.Send(n.peer, fwd)
}

// checkTagFree checks a tag's syntax and that no live container of the
// account carries it already.
func (m *Master) checkTagFree(account, tag string) error {
	if err := protocol.CheckTag(tag); err != nil {
		return err
	}
	for _, c := range m.containers {
		if c.account == account && c.tag == tag {
			return fmt.Errorf("tag %q is taken by container %s: %w", tag, c.name, protocol.ErrExists)
		}
	}
	return nil
}

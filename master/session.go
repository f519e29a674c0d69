package master

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tffs/tffs/protocol"
)

// session is one client connection's life: it owns the containers it makes.
type session struct {
	id       string // the client's routing id
	account  string
	key      string
	lastSeen time.Time
	names    map[string]string // container name → id

	uploading int              // layer uploads in flight
	pending   map[string]int64 // layers uploaded (or being uploaded) and not yet in an image: digest → size
}

// container is the master's record of a container.
type container struct {
	id, name, session, node, image string
	account, tag                   string // tag: "" or unique among the account's containers
	state                          string // starting, running, exited
	exit                           int
	boot, exitedBoot               int               // the newest boot the node named, and the last one seen exiting
	procs                          map[string]bool   // processes started with exec and not yet exited
	execs                          map[uint64]string // exec requests awaiting the node's reply: request id → process
	volumes                        []string          // ids of the volumes it mounts
	restored                       bool              // read from the store and not yet confirmed by its node
	ip                             string            // its private address ("" for none)
	allowed                        map[string]bool   // addresses its firewall lets in (network.go)
}

func (m *Master) handleClient(account string, in protocol.Incoming) {
	msg := in.Msg
	s := m.sessions[in.Peer]
	if msg.Kind == protocol.KindLinkReset {
		if s != nil {
			m.sessionLinkReset(s, msg.Err)
		}
		return
	}
	if s != nil {
		if s.key != in.Key { // the transport binds session names to keys; this is a second check
			m.warn.Warn(m.log, in.Key, "session used by another key: refused", "key", protocol.ShortKey(in.Key), "owner", protocol.ShortKey(s.key))
			if msg.Kind == protocol.KindRequest {
				m.reply(in.Peer, msg, nil, fmt.Errorf("this session belongs to another key: %w", protocol.ErrPermission))
			}
			return
		}
		s.lastSeen = time.Now()
	}
	switch msg.Kind {
	case protocol.KindPing:
		p := m.pong()
		if s == nil {
			p.SetBody(protocol.Pong{Master: m.incarnation, NoSession: true})
		}
		m.srv.Send(in.Peer, p)
		return
	case protocol.KindBye:
		m.srv.Send(in.Peer, &protocol.Msg{Kind: protocol.KindBye}) // the client may stop waiting
		if s != nil {
			m.endSession(s.id, "closed by client")
		}
		return
	case protocol.KindRequest:
		if msg.Op == protocol.OpHello {
			m.hello(account, in)
			return
		}
		if s == nil {
			m.reply(in.Peer, msg, nil, fmt.Errorf("no session: send hello first: %w", protocol.ErrPermission))
			return
		}
		m.clientRequest(s, msg)
	case protocol.KindData, protocol.KindAck:
		if s == nil {
			return
		}
		if msg.Container == "" {
			m.streams.Dispatch(s.id, msg)
			return
		}
		m.forwardToNode(s, msg)
	default:
		m.log.Debug("unexpected message from client", "kind", msg.Kind)
	}
}

func (m *Master) hello(account string, in protocol.Incoming) {
	s := m.sessions[in.Peer]
	if s == nil {
		s = &session{id: in.Peer, account: account, key: in.Key, lastSeen: time.Now(), names: map[string]string{}, pending: map[string]int64{}}
		m.sessions[in.Peer] = s
		m.saveSession(s)
		m.log.Info("session started", "account", account, "key", protocol.ShortKey(in.Key))
		m.log.Debug("session id", "session", s.id)
	}
	m.reply(in.Peer, in.Msg, m.offerFor(s), nil)
}

func (m *Master) reply(peer string, req *protocol.Msg, body any, err error) {
	if err := m.srv.Send(peer, req.Reply(body, err)); err != nil {
		m.log.Debug("reply not sent", "err", err)
	}
}

func (m *Master) clientRequest(s *session, msg *protocol.Msg) {
	if strings.HasPrefix(msg.Op, "volume.") {
		m.volumeRequest(s, msg)
		return
	}
	switch msg.Op {
	case protocol.OpOffer:
		m.reply(s.id, msg, m.offerFor(s), nil)
	case protocol.OpLayersNeeded:
		m.layersNeeded(s, msg)
	case protocol.OpLayerPut:
		m.layerPut(s, msg)
	case protocol.OpImagePut:
		m.imagePut(s, msg)
	case protocol.OpImageList:
		m.reply(s.id, msg, protocol.ImageList{Images: m.store.images(s.account)}, nil)
	case protocol.OpImageRemove:
		m.imageRemove(s, msg)
	case protocol.OpImageFiles:
		m.imageFiles(s, msg)
	case protocol.OpImageFetch:
		m.imageFetch(s, msg)
	case protocol.OpSpawn:
		m.spawn(s, msg)
	case protocol.OpList:
		m.reply(s.id, msg, m.list(s), nil)
	case protocol.OpAllow, protocol.OpDisallow:
		m.allow(s, msg)
	case protocol.OpExternal:
		m.external(s, msg)
	case protocol.OpPublish, protocol.OpUnpublish:
		m.publish(s, msg)
	case protocol.OpGatewayDial, protocol.OpSessionEnd, protocol.OpSessionStreamsReset, protocol.OpNodeHello, protocol.OpLayerGet:
		// The master's own operations on nodes, never a client's.
		m.reply(s.id, msg, nil, fmt.Errorf("operation %q: %w", msg.Op, protocol.ErrInvalid))
	case protocol.OpEndpointCert:
		m.endpointCert(s, msg)
	case protocol.OpExec:
		if m.exec(s, msg) {
			m.forwardToNode(s, msg)
		}
	default:
		if msg.Container == "" {
			m.reply(s.id, msg, nil, fmt.Errorf("unknown operation %q: %w", msg.Op, protocol.ErrInvalid))
			return
		}
		m.forwardToNode(s, msg)
	}
}

// forwardToNode passes a container operation or stream message to the
// container's node, stamped with the session, after checking ownership.
func (m *Master) forwardToNode(s *session, msg *protocol.Msg) {
	if protocol.IsVolumeTarget(msg.Container) {
		m.forwardVolume(s, msg)
		return
	}
	c, ok := m.containers[msg.Container]
	if !ok || c.session != s.id {
		if msg.Kind == protocol.KindRequest {
			m.reply(s.id, msg, nil, fmt.Errorf("container %q: %w", msg.Container, protocol.ErrNotFound))
		}
		return
	}
	n := m.nodes[c.node]
	if n == nil || !n.online {
		if msg.Kind == protocol.KindRequest {
			m.reply(s.id, msg, nil, fmt.Errorf("node %q is not connected: %w", c.node, protocol.ErrUnavailable))
		}
		return
	}
	msg.Session = s.id
	if err := m.srv.Send(n.peer, msg); err != nil {
		m.log.Debug("forward failed", "err", err)
	}
}

func (m *Master) list(s *session) protocol.ContainerList {
	var out protocol.ContainerList
	for _, c := range m.containers {
		if c.session == s.id {
			out.Containers = append(out.Containers, c.info())
		}
	}
	return out
}

func (c *container) info() protocol.ContainerInfo {
	return protocol.ContainerInfo{ID: c.id, Name: c.name, Node: c.node, Image: c.image, State: c.state, Exit: c.exit, Exited: c.state == "exited", Tag: c.tag, Boot: c.boot, IP: c.ip}
}

// endSession garbage-collects everything the session made.
func (m *Master) endSession(id, reason string) {
	s := m.sessions[id]
	if s == nil {
		return
	}
	delete(m.sessions, id)
	m.endSessionEndpoints(id)
	nodes := map[string]bool{}
	var ids []string
	for cid, c := range m.containers {
		if c.session == id {
			nodes[c.node] = true
			delete(m.containers, cid)
			m.revoke(c)
			ids = append(ids, cid)
		}
	}
	m.unsave(id, ids)
	for name := range nodes {
		if n := m.nodes[name]; n != nil && n.online {
			m.sendNode(n, protocol.OpSessionEnd, protocol.SessionEnd{Session: id})
		}
	}
	m.streams.FailScope(id, errors.New("session ended"))
	m.srv.Forget(id)
	if len(s.pending) > 0 {
		m.collectLayers() // its uploads no image took up
	}
	m.log.Info("session ended", "account", s.account, "key", protocol.ShortKey(s.key), "reason", reason, "containers", len(nodes))
}

// endKeySessions ends at once every session opened with one of keys (an
// account removed or re-keyed), as a goodbye would: their containers go,
// and the client is told each one is gone and why.
func (m *Master) endKeySessions(keys map[string]bool, reason string) {
	for id, s := range m.sessions {
		if !keys[s.key] {
			continue
		}
		for cid, c := range m.containers {
			if c.session == id {
				m.event(id, protocol.EvContainerGone, protocol.ContainerGone{Container: cid, Reason: reason})
			}
		}
		m.endSession(id, reason)
	}
}

// pong answers a heartbeat with the master's incarnation, so a peer that
// sees it change knows the master restarted.
func (m *Master) pong() *protocol.Msg {
	p := &protocol.Msg{Kind: protocol.KindPong}
	p.SetBody(protocol.Pong{Master: m.incarnation})
	return p
}

// sendNode sends a master-originated request to a node; the reply is ignored.
func (m *Master) sendNode(n *node, op string, body any) {
	req, err := protocol.NewRequest(0, op, body)
	if err == nil {
		err = m.srv.Send(n.peer, req)
	}
	if err != nil {
		m.log.Warn("send to node failed", "node", n.name, "op", op, "err", err)
	}
}

// event sends a one-way notice to a session.
func (m *Master) event(sessionID, op string, body any) {
	ev := &protocol.Msg{Kind: protocol.KindEvent, Op: op}
	if err := ev.SetBody(body); err != nil {
		return
	}
	m.srv.Send(sessionID, ev)
}

// booted records that the node started boot b (0: a node that does not
// number boots); the container runs unless that boot's exit came first.
func (c *container) booted(b int) {
	if b != 0 && b < c.boot {
		return
	}
	c.boot = b
	if b != 0 && c.exitedBoot == b {
		c.state = "exited"
		return
	}
	c.state = "running"
}

// exitedEvent records a main-process exit unless it is an older boot's.
func (c *container) exitedEvent(ev protocol.ContainerExit) {
	if ev.Boot != 0 && ev.Boot < c.boot {
		return
	}
	if ev.Boot > c.boot {
		c.boot = ev.Boot
	}
	c.exitedBoot = ev.Boot
	c.state, c.exit = "exited", ev.Code
}

// sessionLinkReset runs when the link to a session's client was reset
// (messages in flight may be lost): the session's streams fail here and on
// its nodes, so no end waits for a chunk or credit that will never come.
func (m *Master) sessionLinkReset(s *session, why *protocol.Error) {
	m.log.Warn("link to a session reset: its streams fail", "account", s.account, "key", protocol.ShortKey(s.key), "err", why)
	m.streams.FailScope(s.id, fmt.Errorf("link to the client reset: %w", protocol.ErrUnavailable))
	nodes := map[string]bool{}
	for _, c := range m.containers {
		if c.session == s.id {
			nodes[c.node] = true
		}
	}
	for name := range nodes {
		if n := m.nodes[name]; n != nil && n.online {
			m.sendNode(n, protocol.OpSessionStreamsReset, protocol.SessionEnd{Session: s.id})
		}
	}
}

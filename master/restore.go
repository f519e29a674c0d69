package master

import (
	"reflect"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tffs/tffs/protocol"
)

// Sessions and containers are written to the store on every change, in
// the actor goroutine, so that a master killed at any point restarts with
// them (see the package doc for how the rest is rebuilt).

var (
	bucketSessions   = []byte("sessions")   // session id → CBOR sessionRecord
	bucketContainers = []byte("containers") // container id → CBOR containerRecord
)

// sessionRecord is what the store keeps of a session.
type sessionRecord struct {
	ID      string `cbor:"1,keyasint"`
	Account string `cbor:"2,keyasint"`
	Key     string `cbor:"3,keyasint"`
}

// containerRecord is what the store keeps of a container: ownership (the
// store's word wins over a node's) and the last runtime state seen (a
// node's report wins over it).
type containerRecord struct {
	ID         string `cbor:"1,keyasint"`
	Name       string `cbor:"2,keyasint"`
	Session    string `cbor:"3,keyasint"`
	Node       string `cbor:"4,keyasint"`
	Image      string `cbor:"5,keyasint"`
	Account    string `cbor:"6,keyasint"`
	Tag        string `cbor:"7,keyasint,omitempty"`
	State      string `cbor:"8,keyasint"`
	Exit       int    `cbor:"9,keyasint,omitempty"`
	Boot       int    `cbor:"10,keyasint,omitempty"`
	ExitedBoot int    `cbor:"11,keyasint,omitempty"`

	Volumes string `cbor:"40,keyasint,omitempty"` // ids of the volumes it mounts, space-separated (records compare with ==)
	// The network (network.go): its address and the addresses its
	// firewall lets in.
	IP      string   `cbor:"20,keyasint,omitempty"`
	Allowed []string `cbor:"21,keyasint,omitempty"`
}

func (c *container) record() containerRecord {
	return containerRecord{ID: c.id, Name: c.name, Session: c.session, Node: c.node, Image: c.image, Account: c.account,
		Tag: c.tag, State: c.state, Exit: c.exit, Boot: c.boot, ExitedBoot: c.exitedBoot, Volumes: strings.Join(c.volumes, " "),
		IP: c.ip, Allowed: c.allowedList()}
}

// saveSession records a new session.
func (m *Master) saveSession(s *session) {
	b, err := protocol.Marshal(sessionRecord{ID: s.id, Account: s.account, Key: s.key})
	if err == nil {
		err = m.store.put(bucketSessions, s.id, b)
	}
	if err != nil {
		m.log.Error("store: session not saved: it will not survive a restart", "err", err)
	}
}

// saveContainer records a container's new state.
func (m *Master) saveContainer(c *container) {
	b, err := protocol.Marshal(c.record())
	if err == nil {
		err = m.store.put(bucketContainers, c.id, b)
	}
	if err != nil {
		m.log.Error("store: container not saved", "container", c.id, "err", err)
	}
}

// unsave removes the records of a session (id "" for none) and of
// containers, in one transaction.
func (m *Master) unsave(session string, containers []string) {
	if session == "" && len(containers) == 0 {
		return
	}
	err := m.store.db.Update(func(tx *bolt.Tx) error {
		if session != "" {
			if err := tx.Bucket(bucketSessions).Delete([]byte(session)); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketContainers)
		for _, id := range containers {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		m.log.Error("store: records not removed", "err", err)
	}
}

// restore rebuilds the sessions and containers of the store, before the
// master serves. Each session gets a fresh deadline (now + the session
// timeout) for its client to come back, and its name is bound again to
// its key in the transport, so no other key may claim it. Every node
// counts as offline until it says hello and reports what it runs.
func (m *Master) restore() error {
	sessions, err := m.store.all(bucketSessions)
	if err != nil {
		return err
	}
	containers, err := m.store.all(bucketContainers)
	if err != nil {
		return err
	}
	now := time.Now()
	for id, b := range sessions {
		var r sessionRecord
		if protocol.Unmarshal(b, &r) != nil || r.ID != id {
			m.log.Warn("store: unreadable session record dropped", "session", id)
			m.unsave(id, nil)
			continue
		}
		m.sessions[id] = &session{id: id, account: r.Account, key: r.Key, lastSeen: now,
			names: map[string]string{}, pending: map[string]int64{}}
		m.srv.Bind(id, r.Key)
	}
	var stale []string
	for id, b := range containers {
		var r containerRecord
		if protocol.Unmarshal(b, &r) != nil || r.ID != id || m.sessions[r.Session] == nil {
			stale = append(stale, id)
			continue
		}
		c := &container{id: id, name: r.Name, session: r.Session, node: r.Node, image: r.Image, account: r.Account,
			tag: r.Tag, state: r.State, exit: r.Exit, boot: r.Boot, exitedBoot: r.ExitedBoot, restored: true, ip: r.IP}
		c.volumes = strings.Fields(r.Volumes)
		m.containers[id] = c
		m.sessions[r.Session].names[r.Name] = id
		for _, ip := range r.Allowed {
			c.allow(ip, true)
		}
	}
	m.unsave("", stale) // a node that still runs one is told to drop it
	if len(m.sessions) > 0 {
		m.log.Info("state restored", "sessions", len(m.sessions), "containers", len(m.containers))
	}
	return nil
}

// settle compares a node's report of the containers it runs with the
// master's records and returns the ids the node must destroy. The store's
// word wins for ownership: a reported container the master does not know
// (on that node) is dropped. The node's word wins for runtime state: a
// newer boot, or an exit the master missed, is taken and the session told.
// A container the master holds on the node and the node lacks is reported
// gone to its session, unless its spawn is still in flight (the node sends
// its report in order with its spawn replies, so a spawn it answered is in
// the report).
func (m *Master) settle(n *node, report []protocol.NodeContainer) (drop []string) {
	seen := make(map[string]bool, len(report))
	for _, r := range report {
		c := m.containers[r.ID]
		if c == nil || c.node != n.name {
			drop = append(drop, r.ID)
			continue
		}
		seen[r.ID] = true
		m.adopt(c, r)
	}
	for _, c := range m.containers {
		if c.node == n.name && !seen[c.id] && (c.state != "starting" || c.restored) {
			m.lose(c, "the node no longer runs it")
		}
	}
	if len(drop) > 0 {
		m.log.Info("node runs containers the master does not know: dropped", "node", n.name, "count", len(drop))
	}
	return drop
}

// adopt takes the runtime state of a node's report: only forward (a newer
// boot, or the current boot's exit), so a report older than an event or
// reply already taken changes nothing.
func (m *Master) adopt(c *container, r protocol.NodeContainer) {
	if r.Boot != 0 && r.Boot < c.boot {
		return
	}
	before := c.record()
	if r.Boot > c.boot || c.state == "starting" {
		c.booted(r.Boot)
	}
	if r.Exited && !(c.state == "exited" && c.exitedBoot == r.Boot) {
		ev := protocol.ContainerExit{Container: c.id, Code: r.Exit, Boot: r.Boot}
		c.exitedEvent(ev)
		m.event(c.session, protocol.EvContainerExit, ev) // it may have been lost with the old master
	}
	c.restored = false
	c.adoptProcs(r.Procs)
	if !reflect.DeepEqual(c.record(), before) {
		m.saveContainer(c)
	}
}

// lose forgets a container its node no longer runs and tells its session.
func (m *Master) lose(c *container, reason string) {
	m.forget(c)
	m.event(c.session, protocol.EvContainerGone, protocol.ContainerGone{Container: c.id, Reason: reason})
}

package master

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tffs/tffs/protocol"
)

// Volumes belong to an account, not a session: they outlive the sessions
// that made them and are removed only by an explicit destroy, never while
// a container mounts one. The master keeps their records (persisted in
// the store); the data lives on one node, which carries out the
// operations. Another account's volume is never found (ErrNotFound).

var bucketVolumes = []byte("volumes") // volume id → CBOR volumeRecord

// volumeOpTimeout bounds one volume operation on a node (a rollback of
// the dir driver copies the whole volume).
const volumeOpTimeout = 30 * time.Minute

// volume is the master's record of a volume.
type volume struct {
	volumeRecord
	busy       string // an operation in progress ("creating", "destroying", "moving", …): others wait
	cancelMove context.CancelFunc
}

// volumeRecord is what the store keeps of a volume.
type volumeRecord struct {
	ID        string    `cbor:"1,keyasint"`
	Account   string    `cbor:"2,keyasint"`
	Name      string    `cbor:"3,keyasint"`
	Tag       string    `cbor:"4,keyasint,omitempty"`
	Node      string    `cbor:"5,keyasint"`
	Snapshots []string  `cbor:"6,keyasint,omitempty"`
	Created   time.Time `cbor:"7,keyasint"`
	Driver    string    `cbor:"8,keyasint,omitempty"`
}

// restoreVolumes loads the volume records (their bucket is made on first use).
func (m *Master) restoreVolumes() error {
	m.volumes = map[string]*volume{}
	err := m.store.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketVolumeLeftovers); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketVolumes)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var r volumeRecord
			if protocol.Unmarshal(v, &r) != nil || r.ID != string(k) {
				m.log.Warn("store: unreadable volume record kept aside", "volume", string(k))
				return nil
			}
			m.volumes[r.ID] = &volume{volumeRecord: r}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("restore volumes: %w", err)
	}
	return nil
}

func (m *Master) saveVolume(v *volume) {
	b, err := protocol.Marshal(v.volumeRecord)
	if err == nil {
		err = m.store.put(bucketVolumes, v.ID, b)
	}
	if err != nil {
		m.log.Error("store: volume not saved", "volume", v.ID, "err", err)
	}
}

// findVolume finds the account's volume named ref, by name, else by tag.
func (m *Master) findVolume(account, ref string) (*volume, error) {
	var byTag *volume
	for _, v := range m.volumes {
		if v.Account != account {
			continue
		}
		if v.Name == ref {
			return v, nil
		}
		if v.Tag != "" && v.Tag == ref {
			byTag = v
		}
	}
	if byTag != nil {
		return byTag, nil
	}
	return nil, fmt.Errorf("volume %q: %w", ref, protocol.ErrNotFound)
}

// mountedBy names the containers that mount volume id.
func (m *Master) mountedBy(id string) []string {
	var out []string
	for _, c := range m.containers {
		if slices.Contains(c.volumes, id) {
			out = append(out, c.name)
		}
	}
	sort.Strings(out)
	return out
}

func (m *Master) volumeInfo(v *volume) protocol.VolumeInfo {
	return protocol.VolumeInfo{ID: v.ID, Name: v.Name, Tag: v.Tag, Node: v.Node, Snapshots: v.Snapshots,
		Mounts: m.mountedBy(v.ID), Created: v.Created, Driver: v.Driver, Moving: v.busy == "moving"}
}

// accountVolumes lists an account's volumes by name (those being created
// are left out).
func (m *Master) accountVolumes(account string) []protocol.VolumeInfo {
	var out []protocol.VolumeInfo
	for _, v := range m.volumes {
		if v.Account == account && v.busy != "creating" {
			out = append(out, m.volumeInfo(v))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// accountEvent sends an event to every session of account, and the offer
// that changed with it.
func (m *Master) accountEvent(account, op string, body any) {
	for id, s := range m.sessions {
		if s.account == account {
			m.event(id, op, body)
		}
	}
	m.accountOffer(account)
}

// accountOffer sends the offer to every session of account.
func (m *Master) accountOffer(account string) {
	for id, s := range m.sessions {
		if s.account == account {
			m.event(id, protocol.OpOffer, m.offerFor(s))
		}
	}
}

// volumeNode is the online node of a volume.
func (m *Master) volumeNode(v *volume) (*node, error) {
	n := m.nodes[v.Node]
	if n == nil || !n.online {
		return nil, fmt.Errorf("volume %s: its node %s is not connected: %w", v.Name, v.Node, protocol.ErrUnavailable)
	}
	return n, nil
}

// nodeConn is a node's connection as the actor saw it, for work off the
// actor goroutine (which must not read a *node).
type nodeConn struct{ name, peer string }

func (n *node) conn() nodeConn { return nodeConn{n.name, n.peer} }

// nodeCall sends a master request to node c and waits for its reply; it
// runs off the actor goroutine.
func (m *Master) nodeCall(ctx context.Context, c nodeConn, op string, body, reply any) error {
	return m.calls.Call(ctx, func(msg *protocol.Msg) error { return m.srv.Send(c.peer, msg) }, op, body, reply, nil)
}

// volumeWork runs a node operation on volume v off the actor goroutine,
// then done on the actor with its result; v is marked busy meanwhile.
func (m *Master) volumeWork(v *volume, busy string, n *node, op string, done func(protocol.VolumeState, error)) {
	if busy != "" {
		v.busy = busy
	}
	c := n.conn()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), volumeOpTimeout)
		defer cancel()
		var st protocol.VolumeState
		err := m.nodeCall(ctx, c, op, protocol.NodeVolume{ID: v.ID}, &st)
		m.post(func() {
			if busy != "" {
				v.busy = ""
			}
			done(st, err)
		})
	}()
}

// volumeRequest serves a client's volume operation.
func (m *Master) volumeRequest(s *session, msg *protocol.Msg) {
	fail := func(err error) { m.reply(s.id, msg, nil, err) }
	switch msg.Op {
	case protocol.OpVolumeCreate:
		m.volumeCreate(s, msg)
		return
	case protocol.OpVolumeList:
		m.reply(s.id, msg, protocol.VolumeList{Volumes: m.accountVolumes(s.account)}, nil)
		return
	case protocol.OpVolumeMove:
		m.volumeMove(s, msg)
		return
	case protocol.OpVolumeInfo, protocol.OpVolumeDestroy, protocol.OpVolumeSnapshot, protocol.OpVolumeRollback:
	default:
		fail(fmt.Errorf("unknown volume operation %q: %w", msg.Op, protocol.ErrInvalid))
		return
	}
	var ref protocol.VolumeRef
	if err := msg.DecodeBody(&ref); err != nil {
		fail(err)
		return
	}
	v, err := m.findVolume(s.account, ref.Volume)
	if err != nil {
		fail(err)
		return
	}
	if msg.Op == protocol.OpVolumeInfo && (v.busy != "" || m.nodes[v.Node] == nil || !m.nodes[v.Node].online) {
		m.reply(s.id, msg, m.volumeInfo(v), nil) // what the master knows
		return
	}
	if v.busy != "" {
		fail(fmt.Errorf("volume %s: %s: %w", v.Name, v.busy, protocol.ErrBusy))
		return
	}
	if mounts := m.mountedBy(v.ID); len(mounts) > 0 && (msg.Op == protocol.OpVolumeDestroy || msg.Op == protocol.OpVolumeRollback) {
		fail(fmt.Errorf("volume %s is mounted by container(s) %s: destroy them first: %w", v.Name, strings.Join(mounts, ", "), protocol.ErrBusy))
		return
	}
	n, err := m.volumeNode(v)
	if err != nil {
		fail(err)
		return
	}
	busy := strings.TrimPrefix(msg.Op, "volume.")
	if msg.Op == protocol.OpVolumeInfo {
		busy = "" // reading its state holds nothing up
	}
	m.volumeWork(v, busy, n, msg.Op, func(st protocol.VolumeState, err error) {
		if msg.Op == protocol.OpVolumeDestroy {
			if err != nil && !errors.Is(err, protocol.ErrNotFound) {
				fail(err)
				return
			}
			delete(m.volumes, v.ID)
			if err := m.store.delete(bucketVolumes, v.ID); err != nil {
				m.log.Error("store: volume record not removed", "volume", v.ID, "err", err)
			}
			m.log.Info("volume destroyed", "account", v.Account, "volume", v.Name, "node", v.Node)
			m.reply(s.id, msg, protocol.Empty{}, nil)
			m.accountEvent(v.Account, protocol.EvVolumeDestroyed, m.volumeInfo(v))
			return
		}
		if err != nil {
			fail(err)
			return
		}
		if !slices.Equal(v.Snapshots, st.Snapshots) || v.Driver != st.Driver {
			v.Snapshots, v.Driver = st.Snapshots, st.Driver
			m.saveVolume(v)
		}
		info := m.volumeInfo(v)
		info.Used = st.Used
		m.reply(s.id, msg, info, nil)
	})
}

func (m *Master) volumeCreate(s *session, msg *protocol.Msg) {
	var req protocol.VolumeCreateRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	if err := m.checkNewVolume(s.account, req.Name, req.Tag); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	var n *node
	if req.Node == "" {
		if o := m.offer(); len(o.Nodes) > 0 {
			n = m.nodes[o.Nodes[0].Name]
		}
	} else if n = m.nodes[req.Node]; n != nil && !n.online {
		n = nil
	}
	if n == nil {
		m.reply(s.id, msg, nil, fmt.Errorf("no node %q is available: %w", req.Node, protocol.ErrUnavailable))
		return
	}
	v := &volume{volumeRecord: volumeRecord{ID: randomID(8), Account: s.account, Name: req.Name, Tag: req.Tag,
		Node: n.name, Created: time.Now().UTC()}}
	m.volumes[v.ID] = v
	m.volumeWork(v, "creating", n, protocol.OpVolumeCreate, func(st protocol.VolumeState, err error) {
		if err != nil {
			delete(m.volumes, v.ID)
			if errors.Is(err, protocol.ErrTimeout) || errors.Is(err, protocol.ErrUnavailable) {
				m.addLeftover(v.ID, v.Node) // the node may have made it without telling
			}
			m.reply(s.id, msg, nil, fmt.Errorf("create volume %s: %w", v.Name, err))
			return
		}
		v.Snapshots, v.Driver = st.Snapshots, st.Driver
		m.saveVolume(v)
		m.log.Info("volume created", "account", v.Account, "volume", v.Name, "node", v.Node, "driver", v.Driver)
		m.reply(s.id, msg, m.volumeInfo(v), nil)
		m.accountEvent(v.Account, protocol.EvVolumeCreated, m.volumeInfo(v))
	})
}

// DefaultMaxVolumes is the default of Limits.Volumes.
const DefaultMaxVolumes = 64

// checkNewVolume checks a new volume's name and tag: valid, and neither
// taken among the account's volumes (a name may not equal another's tag),
// and the account's volume limit.
func (m *Master) checkNewVolume(account, name, tag string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("volume name %q: use 1-63 of a-z A-Z 0-9 . _ - starting with a letter or digit: %w", name, protocol.ErrInvalid)
	}
	if tag != "" {
		if err := protocol.CheckTag(tag); err != nil {
			return err
		}
	}
	held := 0
	for _, v := range m.volumes {
		if v.Account != account {
			continue
		}
		held++
		if v.Name == name || v.Tag == name {
			return fmt.Errorf("volume %q: %w", name, protocol.ErrExists)
		}
		if tag != "" && (v.Tag == tag || v.Name == tag) {
			return fmt.Errorf("volume tag %q is taken by volume %s: %w", tag, v.Name, protocol.ErrExists)
		}
	}
	if lim := m.Limits().Volumes; over(held+1, lim) {
		return limitError(account, "volumes", held, lim)
	}
	return nil
}

package master

import (
	"fmt"
	"time"

	"github.com/tffs/tffs/protocol"
)

var bucketInvites = []byte("invites") // invitation public key → CBOR inviteRecord

// inviteRecord is an invitation as the store keeps it: never its secret.
type inviteRecord struct {
	Name    string    `cbor:"1,keyasint"`
	Expires time.Time `cbor:"2,keyasint"`
}

// saveInvite records an invitation before its key is admitted.
func (m *Master) saveInvite(pub string, inv *invite) error {
	b, err := protocol.Marshal(inviteRecord{Name: inv.name, Expires: inv.expires})
	if err != nil {
		return err
	}
	if err := m.store.put(bucketInvites, pub, b); err != nil {
		return fmt.Errorf("record invitation: %w", err)
	}
	return nil
}

// admitInvite makes an invitation usable until it expires.
func (m *Master) admitInvite(pub string, inv *invite) {
	m.invites.mu.Lock()
	if m.invites.byKey == nil {
		m.invites.byKey = map[string]*invite{}
	}
	m.invites.byKey[pub] = inv
	inv.timer = time.AfterFunc(time.Until(inv.expires), func() { m.spendInvite(pub) })
	m.invites.mu.Unlock()
	m.srv.Allow(pub)
}

// restoreInvites admits the stored invitations not yet expired and drops
// the others.
func (m *Master) restoreInvites() error {
	all, err := m.store.all(bucketInvites)
	if err != nil {
		return err
	}
	now := time.Now()
	for pub, b := range all {
		var r inviteRecord
		if protocol.Unmarshal(b, &r) != nil || !now.Before(r.Expires) || !protocol.ValidPublicKey(pub) {
			m.store.delete(bucketInvites, pub)
			continue
		}
		m.admitInvite(pub, &invite{name: r.Name, expires: r.Expires})
	}
	return nil
}

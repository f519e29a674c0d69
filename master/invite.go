package master

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tffs/tffs/protocol"
)

// An invitation admits a one-time CURVE key pair made by the master for
// one new account. Its secret half travels in the token `tffs account
// invite` prints; the joining client connects as that key (so the token
// is checked by the CURVE handshake itself: an altered secret is another
// key, refused by ZAP) and makes one request, OpJoin, presenting the key
// pair it made for itself. The invitation key is then revoked, as it is
// when the invitation expires. Invitations are kept in the store (their
// public half, name and expiry; never the secret), so a restarted master
// still honours those not yet used or expired.
type invites struct {
	mu    sync.Mutex
	byKey map[string]*invite // invitation public key → invitation
}

type invite struct {
	name    string
	expires time.Time
	timer   *time.Timer
}

// Invitation is what `tffs join` needs: the master's address and key, the
// invitation's secret key and the account it creates.
type Invitation struct {
	Account   string    `json:"account"`
	Master    string    `json:"master"`
	MasterKey string    `json:"master_key"`
	Secret    string    `json:"secret"`
	Expires   time.Time `json:"expires"`
}

// DefaultInviteTTL is how long an invitation stays usable by default.
const DefaultInviteTTL = 24 * time.Hour

// Invite makes a one-time invitation for a new account name, usable until
// ttl has passed.
func (m *Master) Invite(name string, ttl time.Duration) (Invitation, error) {
	if !validName.MatchString(name) {
		return Invitation{}, fmt.Errorf("name %q: letters, digits, '.', '_' and '-' only: %w", name, protocol.ErrInvalid)
	}
	if ttl <= 0 {
		return Invitation{}, fmt.Errorf("invitation lifetime %v: %w", ttl, protocol.ErrInvalid)
	}
	if m.accountExists(name) {
		return Invitation{}, fmt.Errorf("account %q: %w", name, protocol.ErrExists)
	}
	kp, err := protocol.NewKeyPair()
	if err != nil {
		return Invitation{}, err
	}
	inv := &invite{name: name, expires: time.Now().Add(ttl)}
	if err := m.saveInvite(kp.Public, inv); err != nil {
		return Invitation{}, err
	}
	m.admitInvite(kp.Public, inv)
	return Invitation{Account: name, Master: m.Addr(), MasterKey: m.PublicKey(), Secret: kp.Secret, Expires: inv.expires}, nil
}

func (m *Master) accountExists(name string) bool {
	m.keysMu.RLock()
	defer m.keysMu.RUnlock()
	for _, n := range m.accounts {
		if n == name {
			return true
		}
	}
	return false
}

// spendInvite forgets the invitation of key pub and refuses that key from
// now on; it returns the invitation, nil if there was none.
func (m *Master) spendInvite(pub string) *invite {
	m.invites.mu.Lock()
	inv := m.invites.byKey[pub]
	delete(m.invites.byKey, pub)
	m.invites.mu.Unlock()
	if inv != nil {
		inv.timer.Stop()
		m.srv.Revoke(pub)
		if err := m.store.delete(bucketInvites, pub); err != nil {
			m.log.Warn("invitation spent but still in the store", "err", err)
		}
	}
	return inv
}

// handleInvite serves a message from an invitation key; false if in's key
// is no invitation's.
func (m *Master) handleInvite(in protocol.Incoming) bool {
	m.invites.mu.Lock()
	_, ok := m.invites.byKey[in.Key]
	m.invites.mu.Unlock()
	if !ok {
		return false
	}
	if in.Msg.Kind != protocol.KindRequest {
		return true
	}
	if in.Msg.Op != protocol.OpJoin {
		m.reply(in.Peer, in.Msg, nil, fmt.Errorf("an invitation key may only join: %w", protocol.ErrPermission))
		return true
	}
	var req protocol.JoinRequest
	if err := in.Msg.DecodeBody(&req); err != nil || !protocol.ValidPublicKey(req.PublicKey) {
		m.reply(in.Peer, in.Msg, nil, fmt.Errorf("join: a 40-character Z85 public key is needed: %w", protocol.ErrInvalid))
		return true // the invitation stays usable: nothing changed
	}
	inv := m.spendInvite(in.Key)
	if inv == nil || time.Now().After(inv.expires) {
		m.reply(in.Peer, in.Msg, nil, fmt.Errorf("invitation spent or expired: %w", protocol.ErrPermission))
		return true
	}
	if m.accountExists(inv.name) {
		m.reply(in.Peer, in.Msg, nil, fmt.Errorf("account %q was made meanwhile: %w", inv.name, protocol.ErrExists))
		return true
	}
	// A new name has no keys to revoke, so no session to end from here
	// (the actor goroutine).
	if _, err := m.addPrincipal(bucketAccounts, m.accounts, inv.name, req.PublicKey); err != nil {
		m.reply(in.Peer, in.Msg, nil, err)
		return true
	}
	m.log.Info("account joined by invitation", "account", inv.name, "key", protocol.ShortKey(req.PublicKey))
	m.reply(in.Peer, in.Msg, protocol.JoinReply{Account: inv.name}, nil)
	return true
}

// inviteRoutes adds POST /invites {"name", "ttl"} to the admin API.
func (m *Master) inviteRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /invites", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
			TTL  string `json:"ttl"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			adminError(w, fmt.Errorf("bad request body: %v: %w", err, protocol.ErrInvalid))
			return
		}
		ttl := DefaultInviteTTL
		if req.TTL != "" {
			d, err := time.ParseDuration(req.TTL)
			if err != nil {
				adminError(w, fmt.Errorf("ttl %q: %w", req.TTL, protocol.ErrInvalid))
				return
			}
			ttl = d
		}
		inv, err := m.Invite(req.Name, ttl)
		if err != nil {
			adminError(w, err)
			return
		}
		json.NewEncoder(w).Encode(inv)
	})
}

package master

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/tffs/tffs/protocol"
)

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)

// Principal is an account or a registered node: a name and a public key.
type Principal struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

func (m *Master) loadKeys() error {
	for bucket, dst := range map[string]map[string]string{string(bucketAccounts): m.accounts, string(bucketNodes): m.nodeKeys} {
		all, err := m.store.all([]byte(bucket))
		if err != nil {
			return fmt.Errorf("load %s: %w", bucket, err)
		}
		for name, key := range all {
			dst[string(key)] = name
			m.srv.Allow(string(key))
		}
	}
	return nil
}

// AddAccount admits a client public key under an account name. A key the
// account had before is refused from now on and its sessions end.
func (m *Master) AddAccount(name, pub string) error {
	revoked, err := m.addPrincipal(bucketAccounts, m.accounts, name, pub)
	m.endRevoked(revoked, "account key replaced")
	return err
}

// RemoveAccount forgets an account: its key is refused from now on, and
// its sessions end at once, their containers removed as on a goodbye.
func (m *Master) RemoveAccount(name string) error {
	revoked, err := m.removePrincipal(bucketAccounts, m.accounts, name)
	m.endRevoked(revoked, "account removed")
	return err
}

// endRevoked ends the sessions of revoked keys on the actor goroutine and
// waits for it (briefly: a master that is not running has no sessions).
func (m *Master) endRevoked(keys map[string]bool, reason string) {
	if len(keys) == 0 || !m.running.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.run(ctx, func() { m.endKeySessions(keys, reason) })
}

// Accounts lists the accounts.
func (m *Master) Accounts() []Principal { return m.principals(m.accounts) }

// AddNode registers a node's public key under a node name.
func (m *Master) AddNode(name, pub string) error {
	_, err := m.addPrincipal(bucketNodes, m.nodeKeys, name, pub)
	return err
}

// RemoveNode forgets a node.
func (m *Master) RemoveNode(name string) error {
	_, err := m.removePrincipal(bucketNodes, m.nodeKeys, name)
	return err
}

// Nodes lists the registered nodes.
func (m *Master) Nodes() []Principal { return m.principals(m.nodeKeys) }

// addPrincipal admits pub under name and returns the keys name had before,
// now revoked.
func (m *Master) addPrincipal(bucket []byte, keys map[string]string, name, pub string) (map[string]bool, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("name %q: letters, digits, '.', '_' and '-' only: %w", name, protocol.ErrInvalid)
	}
	if !protocol.ValidPublicKey(pub) {
		return nil, fmt.Errorf("public key %q is not a 40-character Z85 CURVE key: %w", pub, protocol.ErrInvalid)
	}
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if _, taken := m.accounts[pub]; taken {
		return nil, fmt.Errorf("key already belongs to account %q: %w", m.accounts[pub], protocol.ErrExists)
	}
	if _, taken := m.nodeKeys[pub]; taken {
		return nil, fmt.Errorf("key already belongs to node %q: %w", m.nodeKeys[pub], protocol.ErrExists)
	}
	if err := m.store.put(bucket, name, []byte(pub)); err != nil {
		return nil, err
	}
	revoked := map[string]bool{}
	for k, n := range keys {
		if n == name {
			delete(keys, k)
			m.srv.Revoke(k)
			revoked[k] = true
		}
	}
	keys[pub] = name
	m.srv.Allow(pub)
	return revoked, nil
}

// removePrincipal forgets name and returns its keys, now revoked.
func (m *Master) removePrincipal(bucket []byte, keys map[string]string, name string) (map[string]bool, error) {
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	revoked := map[string]bool{}
	for k, n := range keys {
		if n == name {
			revoked[k] = true
		}
	}
	if len(revoked) == 0 {
		return nil, fmt.Errorf("%q: %w", name, protocol.ErrNotFound)
	}
	if err := m.store.delete(bucket, name); err != nil {
		return nil, err
	}
	for k := range revoked {
		delete(keys, k)
		m.srv.Revoke(k)
	}
	return revoked, nil
}

func (m *Master) principals(keys map[string]string) []Principal {
	m.keysMu.RLock()
	defer m.keysMu.RUnlock()
	var out []Principal
	for k, n := range keys {
		out = append(out, Principal{Name: n, PublicKey: k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

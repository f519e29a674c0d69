package master

import (
	"fmt"
	"regexp"
	"sort"

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

// AddAccount admits a client public key under an account name.
func (m *Master) AddAccount(name, pub string) error {
	return m.addPrincipal(bucketAccounts, m.accounts, name, pub)
}

// RemoveAccount forgets an account; its key is refused from now on.
func (m *Master) RemoveAccount(name string) error {
	return m.removePrincipal(bucketAccounts, m.accounts, name)
}

// Accounts lists the accounts.
func (m *Master) Accounts() []Principal { return m.principals(m.accounts) }

// AddNode registers a node's public key under a node name.
func (m *Master) AddNode(name, pub string) error {
	return m.addPrincipal(bucketNodes, m.nodeKeys, name, pub)
}

// RemoveNode forgets a node.
func (m *Master) RemoveNode(name string) error {
	return m.removePrincipal(bucketNodes, m.nodeKeys, name)
}

// Nodes lists the registered nodes.
func (m *Master) Nodes() []Principal { return m.principals(m.nodeKeys) }

func (m *Master) addPrincipal(bucket []byte, keys map[string]string, name, pub string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("name %q: letters, digits, '.', '_' and '-' only: %w", name, protocol.ErrInvalid)
	}
	if !protocol.ValidPublicKey(pub) {
		return fmt.Errorf("public key %q is not a 40-character Z85 CURVE key: %w", pub, protocol.ErrInvalid)
	}
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if _, taken := m.accounts[pub]; taken {
		return fmt.Errorf("key already belongs to account %q: %w", m.accounts[pub], protocol.ErrExists)
	}
	if _, taken := m.nodeKeys[pub]; taken {
		return fmt.Errorf("key already belongs to node %q: %w", m.nodeKeys[pub], protocol.ErrExists)
	}
	for k, n := range keys {
		if n == name {
			delete(keys, k)
			m.srv.Revoke(k)
		}
	}
	if err := m.store.put(bucket, name, []byte(pub)); err != nil {
		return err
	}
	keys[pub] = name
	m.srv.Allow(pub)
	return nil
}

func (m *Master) removePrincipal(bucket []byte, keys map[string]string, name string) error {
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	found := false
	for k, n := range keys {
		if n == name {
			delete(keys, k)
			m.srv.Revoke(k)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%q: %w", name, protocol.ErrNotFound)
	}
	return m.store.delete(bucket, name)
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

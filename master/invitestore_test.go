package master

import (
	"testing"
	"time"
)

// An invitation not yet used survives a restart of the master (only its
// public half is stored); an expired one is dropped on the way; a spent
// one is gone from the store.
func TestInvitationsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	m := newTestMaster(t, dir)
	live, err := m.Invite("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Invite("bob", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	spent, err := m.Invite("carol", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pubs := map[string]string{}
	m.invites.mu.Lock()
	for pub, inv := range m.invites.byKey {
		pubs[inv.name] = pub
	}
	m.invites.mu.Unlock()
	m.spendInvite(pubs["carol"])
	all, _ := m.store.all(bucketInvites)
	for _, b := range all {
		if string(b) == spent.Secret || string(b) == live.Secret {
			t.Fatal("a secret is in the store")
		}
	}
	closeTestMaster(m)
	time.Sleep(100 * time.Millisecond) // bob's invitation expires while the master is down

	m = newTestMaster(t, dir)
	defer closeTestMaster(m)
	m.invites.mu.Lock()
	names := map[string]bool{}
	for _, inv := range m.invites.byKey {
		names[inv.name] = true
	}
	m.invites.mu.Unlock()
	if !names["alice"] || names["bob"] || names["carol"] || len(names) != 1 {
		t.Fatalf("invitations after the restart: %v, want alice only", names)
	}
	if all, _ := m.store.all(bucketInvites); len(all) != 1 {
		t.Fatalf("%d invitations stored, want 1", len(all))
	}
}

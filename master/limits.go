package master

import (
	"fmt"

	"github.com/tffs/tffs/protocol"
)

// Limits bound what one account may hold at a time, over all its sessions.
// A zero field takes the default; a negative one means no limit. A request
// past a limit fails with protocol.ErrLimit and changes nothing.
type Limits struct {
	Containers int   // containers alive at once (default 256)
	Processes  int   // processes started with exec and still running (default 4096)
	LayerBytes int64 // bytes of the layers its images reference, plus uploads not yet referenced (default 32 GiB)
	Uploads    int   // layer uploads at once (default 8)

	Volumes int // persistent volumes held (default 64; volume.go)
}

// Default limits.
const (
	DefaultMaxContainers = 256
	DefaultMaxProcesses  = 4096
	DefaultMaxLayerBytes = 32 << 30
	DefaultMaxUploads    = 8
)

func (l *Limits) setDefaults() {
	if l.Containers == 0 {
		l.Containers = DefaultMaxContainers
	}
	if l.Processes == 0 {
		l.Processes = DefaultMaxProcesses
	}
	if l.LayerBytes == 0 {
		l.LayerBytes = DefaultMaxLayerBytes
	}
	if l.Uploads == 0 {
		l.Uploads = DefaultMaxUploads
	}
	if l.Volumes == 0 {
		l.Volumes = DefaultMaxVolumes
	}
}

// SetLimits changes the per-account limits of a running master; what is
// already held over a new limit stays, new requests are refused.
func (m *Master) SetLimits(l Limits) {
	l.setDefaults()
	m.limits.Store(&l)
}

// Limits returns the per-account limits in force.
func (m *Master) Limits() Limits { return *m.limits.Load() }

// over reports whether holding n (after the request) passes limit.
func over[T int | int64](n, limit T) bool { return limit >= 0 && n > limit }

func limitError(account, what string, have, limit any) error {
	return fmt.Errorf("account %s: %s: %v held, the limit is %v: %w", account, what, have, limit, protocol.ErrLimit)
}

// checkContainerLimit runs on the actor before a spawn.
func (m *Master) checkContainerLimit(account string) error {
	lim := m.Limits().Containers
	n := 0
	for _, c := range m.containers {
		if c.account == account {
			n++
		}
	}
	if over(n+1, lim) {
		return limitError(account, "containers", n, lim)
	}
	return nil
}

// checkProcessLimit runs on the actor before an exec.
func (m *Master) checkProcessLimit(account string) error {
	lim := m.Limits().Processes
	n := 0
	for _, c := range m.containers {
		if c.account == account {
			n += len(c.procs)
		}
	}
	if over(n+1, lim) {
		return limitError(account, "running processes", n, lim)
	}
	return nil
}

// exec counts a process the session starts; the count drops when it exits,
// its start fails, or its container goes.
func (m *Master) exec(s *session, msg *protocol.Msg) bool {
	c, ok := m.containers[msg.Container]
	if !ok || c.session != s.id {
		return true // forwardToNode answers
	}
	var req protocol.ExecRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return false
	}
	if _, dup := c.procs[req.Proc]; dup {
		m.reply(s.id, msg, nil, fmt.Errorf("process %q exists in %s: %w", req.Proc, c.name, protocol.ErrExists))
		return false
	}
	if _, dup := c.execs[msg.ID]; dup {
		m.reply(s.id, msg, nil, fmt.Errorf("request %d is already in flight: %w", msg.ID, protocol.ErrInvalid))
		return false
	}
	if err := m.checkProcessLimit(s.account); err != nil {
		m.reply(s.id, msg, nil, err)
		return false
	}
	if c.procs == nil {
		c.procs, c.execs = map[string]bool{}, map[uint64]string{}
	}
	c.procs[req.Proc] = true
	c.execs[msg.ID] = req.Proc
	return true
}

// execReplied settles an exec once the node answered it.
func (c *container) execReplied(msg *protocol.Msg) {
	proc, ok := c.execs[msg.ID]
	if !ok {
		return
	}
	delete(c.execs, msg.ID)
	if msg.Err != nil {
		delete(c.procs, proc)
	}
}

// uploadsOf counts the layer uploads in flight for an account.
func (m *Master) uploadsOf(account string) int {
	n := 0
	for _, s := range m.sessions {
		if s.account == account {
			n += s.uploading
		}
	}
	return n
}

// adoptProcs takes the processes a node reports running in c, so a master
// that restarted (and so lost its counts) holds the account to its process
// limit again. A process the master counts and the node no longer runs has
// exited while the report was in flight or its exit is on its way; it is
// left to that exit event.
func (c *container) adoptProcs(running []string) {
	if len(running) == 0 {
		return
	}
	if c.procs == nil {
		c.procs, c.execs = map[string]bool{}, map[uint64]string{}
	}
	for _, id := range running {
		c.procs[id] = true
	}
}

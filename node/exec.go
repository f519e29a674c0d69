package node

import (
	"context"
	"fmt"
	"io"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

func (n *Node) exec(ctx context.Context, c *ctr, m *protocol.Msg) (any, error) {
	var req protocol.ExecRequest
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	if req.Proc == "" || len(req.Proc) > 64 || len(req.Args) == 0 {
		return nil, fmt.Errorf("exec needs a process id and a command: %w", protocol.ErrInvalid)
	}
	c.mu.Lock()
	_, taken := c.procs[req.Proc]
	c.mu.Unlock()
	if taken {
		return nil, fmt.Errorf("process %q: %w", req.Proc, protocol.ErrExists)
	}
	var stdin io.Reader
	var stdinRecv *protocol.Receiver
	var stdinKey protocol.StreamKey
	if req.Stdin != 0 {
		stdinKey = protocol.StreamKey{Scope: c.session, ID: req.Stdin}
		if recv := n.inbound(c.session, req.Stdin); recv != nil {
			stdin, stdinRecv = recv, recv
		} else {
			return nil, fmt.Errorf("stdin stream %d: %w", req.Stdin, protocol.ErrInvalid)
		}
	}
	stdout, stderr := n.output(c.session, req.Stdout), n.output(c.session, req.Stderr)
	spec := runtime.ExecSpec{Args: req.Args, Env: req.Env, Cwd: req.Cwd, TTY: req.TTY,
		Stdin: stdin, Stdout: writerOrDiscard(stdout), Stderr: writerOrDiscard(stderr)}
	p, err := c.rc.Exec(ctx, spec)
	if err != nil {
		n.closeOutput(c.session, stdout, err)
		n.closeOutput(c.session, stderr, err)
		if stdin != nil {
			n.streams.Remove(stdinKey)
		}
		return nil, err
	}
	if req.TTY && req.Width > 0 && req.Height > 0 {
		p.Resize(ctx, req.Width, req.Height)
	}
	c.mu.Lock()
	c.procs[req.Proc] = p
	c.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		code, err := p.Wait(context.Background())
		n.closeOutput(c.session, stdout, nil)
		n.closeOutput(c.session, stderr, nil)
		if stdin != nil {
			// Nobody reads stdin any more: end the copier blocked on it
			// (it would wait for the sender forever) and tell the sender.
			stdinRecv.Abort()
			n.streams.Remove(stdinKey)
		}
		c.mu.Lock()
		delete(c.procs, req.Proc)
		gone := c.gone
		c.mu.Unlock()
		if err != nil && gone {
			return
		}
		if err != nil {
			code = -1
		}
		n.event(c.session, protocol.EvProcExit, protocol.ProcExit{Container: c.id, Proc: req.Proc, Code: code})
	}()
	return protocol.Empty{}, nil
}

func (n *Node) resize(ctx context.Context, c *ctr, m *protocol.Msg) (any, error) {
	var req protocol.ResizeRequest
	if err := m.DecodeBody(&req); err != nil {
		return nil, err
	}
	p, err := c.proc(req.Proc)
	if err != nil {
		return nil, err
	}
	return protocol.Empty{}, p.Resize(ctx, req.Width, req.Height)
}

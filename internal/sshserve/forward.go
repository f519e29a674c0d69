package sshserve

import (
	"context"
	"io"
	"strconv"
	"sync"

	"github.com/tffs/tffs/sdk"
	"golang.org/x/crypto/ssh"
)

// forward serves a direct-tcpip channel (ssh -L): the connection is made
// from inside the container by its `nc HOST PORT` (busybox and most images
// have one), whose stdin and stdout carry the bytes. Ports on the
// container's loopback are reachable this way. The SDK's tunnels carry
// connections only from a local listener (Container.AttachTunnel), which
// would let any local user past the ssh authentication; a call opening
// one tunnelled connection would replace nc here.
func (s *Server) forward(ctx context.Context, nc ssh.NewChannel) {
	var req struct {
		Host       string
		Port       uint32
		OriginAddr string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil || req.Port == 0 || req.Port > 65535 || req.Host == "" {
		nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip request")
		return
	}
	p, err := s.Container.Spawn(ctx, []string{"nc", req.Host, strconv.Itoa(int(req.Port))})
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, "nc in the container: "+err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		p.Kill(ctx)
		return
	}
	go ssh.DiscardRequests(reqs)
	pipe(ctx, ch, p)
}

// pipe carries a channel's bytes to and from a process until the process
// ends, then closes the channel.
func pipe(ctx context.Context, ch ssh.Channel, p *sdk.Process) {
	defer ch.Close()
	go func() {
		io.Copy(p.Stdin, ch)
		p.Stdin.Close()
	}()
	var out sync.WaitGroup
	out.Add(2)
	go func() {
		defer out.Done()
		if _, err := io.Copy(ch, p.Stdout); err != nil { // the client closed the channel
			p.Kill(ctx)
			io.Copy(io.Discard, p.Stdout)
		}
	}()
	go func() { defer out.Done(); io.Copy(io.Discard, p.Stderr) }()
	out.Wait()
	ch.CloseWrite()
	p.Wait(ctx)
}

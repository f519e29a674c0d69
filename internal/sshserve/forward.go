package sshserve

import (
	"context"
	"io"
	"strconv"
	"sync"

	"github.com/tffs/tffs/sdk"
	"golang.org/x/crypto/ssh"
)

// forward serves a direct-tcpip channel (ssh -L). To the container itself
// (localhost, 127.0.0.1, ::1 or its own address) the connection is one
// tunnelled connection made by its node inside its namespace
// (sdk.Container.DialPort): no tool in the image is needed. To any other
// host it is made from inside the container by its `nc HOST PORT`
// (busybox and most images have one), whose stdin and stdout carry the
// bytes, so the container's own network rules apply.
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
	if s.isContainer(req.Host) {
		s.forwardDirect(ctx, nc, int(req.Port))
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

// isContainer reports whether host names the container itself.
func (s *Server) isContainer(host string) bool {
	switch host {
	case "localhost", "127.0.0.1", "::1", "[::1]":
		return true
	}
	return host != "" && host == s.Container.IP()
}

// forwardDirect carries a direct-tcpip channel over one tunnelled
// connection to port in the container, half-closes passed both ways.
func (s *Server) forwardDirect(ctx context.Context, nc ssh.NewChannel, port int) {
	conn, err := s.Container.DialPort(ctx, port)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	defer conn.Close()
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	go ssh.DiscardRequests(reqs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(ch, conn)
		ch.CloseWrite()
	}()
	io.Copy(conn, ch)
	conn.CloseWrite()
	<-done
}

package sshserve

import (
	"context"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"github.com/tffs/tffs/sdk"
	"golang.org/x/crypto/ssh"
)

// session serves one session channel: env and pty-req set it up, then
// exec, shell or the sftp subsystem runs; window-change and signal act on
// the running process.
func (s *Server) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	var (
		env     []string
		pty     bool
		w, h    uint32
		mu      sync.Mutex
		proc    *sdk.Process
		started bool
	)
	for req := range reqs {
		ok := false
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &kv) == nil {
				env, ok = append(env, kv.Name+"="+kv.Value), true
			}
		case "pty-req":
			var p struct {
				Term                         string
				Columns, Rows, Width, Height uint32
				Modes                        string
			}
			if ssh.Unmarshal(req.Payload, &p) == nil {
				pty, w, h, ok = true, p.Columns, p.Rows, true
				if p.Term != "" {
					env = append(env, "TERM="+p.Term)
				}
			}
		case "window-change":
			var p struct{ Columns, Rows, Width, Height uint32 }
			if ssh.Unmarshal(req.Payload, &p) == nil {
				mu.Lock()
				w, h = p.Columns, p.Rows
				if proc != nil {
					rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					proc.Resize(rctx, w, h)
					cancel()
				}
				mu.Unlock()
				ok = true
			}
		case "signal":
			var p struct{ Signal string }
			mu.Lock()
			if ssh.Unmarshal(req.Payload, &p) == nil && proc != nil {
				if sig, known := signals[p.Signal]; known {
					proc.Signal(ctx, sig)
					ok = true
				}
			}
			mu.Unlock()
		case "shell", "exec":
			if started {
				break
			}
			args := []string{"/bin/sh", "-l"}
			if req.Type == "exec" {
				var p struct{ Command string }
				if ssh.Unmarshal(req.Payload, &p) != nil {
					break
				}
				args = []string{"/bin/sh", "-c", p.Command}
			}
			opts := []sdk.ProcOption{sdk.ProcEnv(env...)}
			if pty {
				opts = append(opts, sdk.TTY(w, h))
			}
			p, err := s.Container.Spawn(ctx, args, opts...)
			if err != nil {
				s.Log.Debug("ssh exec", "args", args, "err", err)
				ch.Stderr().Write([]byte("tffs: " + err.Error() + "\r\n"))
				break
			}
			mu.Lock()
			proc, started, ok = p, true, true
			mu.Unlock()
			go s.runProcess(ctx, ch, p, pty)
		case "subsystem":
			var p struct{ Name string }
			if started || ssh.Unmarshal(req.Payload, &p) != nil || p.Name != "sftp" {
				break
			}
			started, ok = true, true
			go s.runSFTP(ctx, ch)
		}
		if req.WantReply {
			req.Reply(ok, nil)
		}
	}
}

// runProcess connects the channel to the process until it exits, then
// reports its exit status and closes the channel.
func (s *Server) runProcess(ctx context.Context, ch ssh.Channel, p *sdk.Process, pty bool) {
	defer ch.Close()
	go func() {
		io.Copy(p.Stdin, ch) // until the client's EOF
		if !pty {
			p.Stdin.Close()
		}
	}()
	var out sync.WaitGroup
	out.Add(2)
	go func() { defer out.Done(); io.Copy(ch, p.Stdout) }()
	go func() { defer out.Done(); io.Copy(ch.Stderr(), p.Stderr) }()
	code, err := p.Wait(ctx)
	if err != nil {
		return
	}
	drained := make(chan struct{})
	go func() { out.Wait(); close(drained) }()
	select { // the node ends the output streams before it reports the exit
	case <-drained:
	case <-time.After(5 * time.Second):
	}
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
}

// runSFTP serves the sftp subsystem on the channel.
func (s *Server) runSFTP(ctx context.Context, ch ssh.Channel) {
	defer ch.Close()
	srv := sftp.NewRequestServer(ch, handlers(ctx, s.Container))
	err := srv.Serve()
	code := uint32(0)
	if err != nil && err != io.EOF {
		s.Log.Debug("sftp", "err", err)
		code = 1
	}
	// Before srv.Close, which closes the channel.
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
	srv.Close()
}

// signals maps ssh signal names (RFC 4254 6.10) to signals.
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

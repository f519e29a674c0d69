// Package sshserve serves ssh into one tffs container without any sshd in
// its image: exec, an interactive shell on a pty with window changes, and
// the sftp subsystem (which OpenSSH's scp uses too), all on the SDK's
// process and file calls. Clients authenticate with their ssh public keys
// (an authorized_keys file); the host key is kept in the tffs directory.
package sshserve

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/tffs/tffs/sdk"
	"golang.org/x/crypto/ssh"
)

// HostKeyFile is the host key's file name in the tffs directory.
const HostKeyFile = "ssh_host_ed25519_key"

// Server serves ssh connections into one container.
type Server struct {
	Container *sdk.Container
	Config    *ssh.ServerConfig
	Log       *slog.Logger
}

// New returns a server into ctr that admits the keys in authorized and
// presents hostKey.
func New(ctr *sdk.Container, hostKey ssh.Signer, authorized []ssh.PublicKey, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	allowed := map[string]bool{}
	for _, k := range authorized {
		allowed[string(k.Marshal())] = true
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if allowed[string(key.Marshal())] {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("key %s not authorized", ssh.FingerprintSHA256(key))
		},
	}
	cfg.AddHostKey(hostKey)
	return &Server{Container: ctr, Config: cfg, Log: log}
}

// Serve accepts connections on ln until ctx ends or ln fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, s.Config)
	if err != nil {
		s.Log.Debug("ssh handshake", "remote", c.RemoteAddr(), "err", err)
		return
	}
	defer sc.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); sc.Close() }()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
		case "direct-tcpip":
			go s.forward(ctx, nc)
			continue
		default:
			nc.Reject(ssh.UnknownChannelType, "only session and direct-tcpip channels are served")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ctx, ch, creqs)
	}
}

// LoadHostKey reads the host key from dir, creating an ed25519 key (mode
// 0600) on first use.
func LoadHostKey(dir string) (ssh.Signer, error) {
	p := filepath.Join(dir, HostKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		blk, merr := ssh.MarshalPrivateKey(priv, "tffs ssh host key")
		if merr != nil {
			return nil, merr
		}
		b = pem.EncodeToMemory(blk)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) { // made meanwhile by another tffs
			return LoadHostKey(dir)
		} else if err != nil {
			return nil, err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}

// LoadAuthorizedKeys reads an authorized_keys file ("" = the user's
// ~/.ssh/authorized_keys).
func LoadAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(home, ".ssh", "authorized_keys")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ssh authorized keys: %w", err)
	}
	var keys []ssh.PublicKey
	for len(bytes.TrimSpace(b)) > 0 {
		k, _, _, rest, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			break // only comments and blank lines are left, or a bad line
		}
		keys = append(keys, k)
		b = rest
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("ssh authorized keys: no key in %s: %w", path, sdk.ErrInvalid)
	}
	return keys, nil
}

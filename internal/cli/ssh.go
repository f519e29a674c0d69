package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/tffs/tffs/internal/sshserve"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
	"golang.org/x/crypto/ssh"
)

// SSHStarter returns a RunOptions.Started that serves ssh into the
// container on 127.0.0.1:port (0 = any free port) for the keys in
// keysFile ("" = ~/.ssh/authorized_keys), with the host key kept in the
// tffs directory dir ("" = the default one). The address is printed on w.
func SSHStarter(port int, keysFile, dir string, w io.Writer) (func(context.Context, *sdk.Container) error, error) {
	keys, err := sshserve.LoadAuthorizedKeys(keysFile)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		dir = protocol.DefaultDir()
	}
	hostKey, err := sshserve.LoadHostKey(dir)
	if err != nil {
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	return func(ctx context.Context, ctr *sdk.Container) error {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("--ssh: %w", err)
		}
		fmt.Fprintf(w, "ssh into %s on %s (host key %s)\n", ctr.Name, ln.Addr(), ssh.FingerprintSHA256(hostKey.PublicKey()))
		go sshserve.New(ctr, hostKey, keys, nil).Serve(ctx, ln)
		return nil
	}, nil
}

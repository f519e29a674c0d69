package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tffs/tffs/internal/cli"
	"github.com/tffs/tffs/master"
	"github.com/tffs/tffs/protocol"
)

// inviteCmd is `tffs account invite NAME`, run on the master's machine.
func inviteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "invite NAME", Short: "print a one-time token that makes account NAME for the client that joins with it", Args: usageArgs(1)}
	dir := cmd.Flags().String("dir", "/var/lib/tffs/master", "the master's state directory")
	ttl := cmd.Flags().Duration("ttl", master.DefaultInviteTTL, "how long the token stays usable")
	addr := cmd.Flags().String("address", "", "the master's address as clients reach it (default: its listening address)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		body, _ := json.Marshal(map[string]string{"name": args[0], "ttl": ttl.String()})
		b, err := adminCall(cmd.Context(), *dir, "POST", "/invites", body)
		if err != nil {
			return err
		}
		var inv master.Invitation
		if err := json.Unmarshal(b, &inv); err != nil {
			return fmt.Errorf("invitation from the master: %w", err)
		}
		if *addr != "" {
			inv.Master = *addr
		} else if strings.Contains(inv.Master, "0.0.0.0") || strings.Contains(inv.Master, "[::]") {
			fmt.Fprintf(os.Stderr, "warning: the master listens on %s; give --address with the address clients reach it at\n", inv.Master)
		}
		fmt.Fprintf(os.Stderr, "one-time token for account %s, usable until %s:\n", inv.Account, inv.Expires.Format(time.RFC3339))
		fmt.Println(cli.EncodeToken(inv))
		return nil
	}
	return cmd
}

// joinCmd is `tffs join TOKEN`, run on the new client's machine.
func joinCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "join TOKEN", Short: "become a client of the location that invited you (see tffs account invite)", Args: usageArgs(1)}
	name := cmd.Flags().String("name", "", "name of the location config to write (default: the account name)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		account, err := cli.Join(cmd.Context(), protocol.DefaultDir(), *name, args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "joined as account %s\n", account)
		return nil
	}
	return cmd
}

// keyExportCmd and keyImportCmd move a client to another machine.
func keyExportCmd() *cobra.Command {
	return &cobra.Command{Use: "export", Short: "print this client's key and location configs (secret: keep it so)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cli.Export(protocol.DefaultDir(), os.Stdout) }}
}

func keyImportCmd() *cobra.Command {
	return &cobra.Command{Use: "import [FILE]", Short: "read what tffs key export printed (from FILE or standard input)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = os.Stdin
			if len(args) == 1 {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			return cli.Import(protocol.DefaultDir(), r)
		}}
}

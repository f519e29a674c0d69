package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tffs/tffs/master"
)

// accountCmd is `tffs account add|list|remove|invite`.
func accountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "manage client accounts of the running master"}
	cmd.AddCommand(adminCmds("accounts")...)
	cmd.AddCommand(inviteCmd())
	return cmd
}

// adminCmds are the add/register, list and remove commands managing the
// accounts or nodes ("accounts"/"nodes") of the running master through its
// admin socket.
func adminCmds(kind string) []*cobra.Command {
	dirFlag := func(c *cobra.Command) *string {
		return c.Flags().String("dir", "/var/lib/tffs/master", "the master's state directory")
	}
	add := &cobra.Command{Use: "add NAME PUBKEY", Aliases: []string{"register"}, Short: "add a public key under NAME",
		Long: "Adds a public key under NAME. A key may begin with \"-\": put -- before NAME then (add -- NAME -KEY…).", Args: usageArgs(2)}
	addDir := dirFlag(add)
	add.RunE = func(cmd *cobra.Command, args []string) error {
		body, _ := json.Marshal(master.Principal{Name: args[0], PublicKey: args[1]})
		_, err := adminCall(cmd.Context(), *addDir, "POST", "/"+kind, body)
		return err
	}
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "list the names and keys", Args: usageArgs(0)}
	listDir := dirFlag(list)
	list.RunE = func(cmd *cobra.Command, args []string) error {
		b, err := adminCall(cmd.Context(), *listDir, "GET", "/"+kind, nil)
		if err != nil {
			return err
		}
		var ps []master.Principal
		json.Unmarshal(b, &ps)
		for _, p := range ps {
			fmt.Fprintf(os.Stdout, "%s\t%s\n", p.Name, p.PublicKey)
		}
		return nil
	}
	remove := &cobra.Command{Use: "remove NAME", Aliases: []string{"rm"}, Short: "remove NAME's key", Args: usageArgs(1)}
	rmDir := dirFlag(remove)
	remove.RunE = func(cmd *cobra.Command, args []string) error {
		_, err := adminCall(cmd.Context(), *rmDir, "DELETE", "/"+kind+"/"+args[0], nil)
		return err
	}
	return []*cobra.Command{add, list, remove}
}

// adminCall makes one request on the admin socket of the master whose
// state directory is dir and returns the reply's body.
func adminCall(ctx context.Context, dir, method, path string, body []byte) ([]byte, error) {
	sock := filepath.Join(dir, master.AdminSocket)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://master"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is the master running with --dir %s? %w", dir, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	return b, nil
}

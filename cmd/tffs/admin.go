package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tffs/tffs/master"
)

// adminCommand manages accounts or nodes of the running master through its
// admin socket: add/register NAME PUBKEY, list, remove NAME.
func adminCommand(ctx context.Context, kind string, args []string) error {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	dir := fs.String("dir", "/var/lib/tffs/master", "the master's state directory")
	if len(args) == 0 {
		return fmt.Errorf("usage: tffs %s add|list|remove …", strings.TrimSuffix(kind, "s"))
	}
	verb := args[0]
	if err := fs.Parse(flagsFirst(args[1:])); err != nil {
		return err
	}
	sock := filepath.Join(*dir, master.AdminSocket)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	var req *http.Request
	var err error
	switch {
	case (verb == "add" || verb == "register") && fs.NArg() == 2:
		body, _ := json.Marshal(master.Principal{Name: fs.Arg(0), PublicKey: fs.Arg(1)})
		req, err = http.NewRequestWithContext(ctx, "POST", "http://master/"+kind, bytes.NewReader(body))
	case verb == "list" && fs.NArg() == 0:
		req, err = http.NewRequestWithContext(ctx, "GET", "http://master/"+kind, nil)
	case verb == "remove" && fs.NArg() == 1:
		req, err = http.NewRequestWithContext(ctx, "DELETE", "http://master/"+kind+"/"+fs.Arg(0), nil)
	default:
		return fmt.Errorf("usage: tffs %s add NAME PUBKEY | list | remove NAME [--dir MASTERDIR]", strings.TrimSuffix(kind, "s"))
	}
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("is the master running with --dir %s? %w", *dir, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	if verb == "list" {
		var ps []master.Principal
		json.Unmarshal(b, &ps)
		for _, p := range ps {
			fmt.Fprintf(os.Stdout, "%s\t%s\n", p.Name, p.PublicKey)
		}
	}
	return nil
}

// flagsFirst moves "--flag value" pairs ahead of positional arguments, so
// `tffs account add NAME KEY --dir D` parses like `--dir D add NAME KEY`.
func flagsFirst(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			flags = append(flags, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, args[i])
	}
	return append(flags, pos...)
}

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tffs/tffs/internal/systemd"
	"github.com/tffs/tffs/protocol"
)

const defaultUnitDir = "/etc/systemd/system"

// systemdCmd is `tffs systemd master|node [-- DAEMON FLAGS]`: a config
// file with the daemon's flags and a unit running it with --config.
func systemdCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "systemd master|node [-- DAEMON FLAGS...]", Short: "write a systemd unit and a config file for the master or node daemon",
		Args: cobra.MinimumNArgs(1), ValidArgs: []string{"master", "node"}}
	unitDir := cmd.Flags().String("unit-dir", defaultUnitDir, "where the unit goes")
	configDir := cmd.Flags().String("config-dir", "/etc/tffs", "where the daemon's config file goes")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var daemon *cobra.Command
		switch args[0] {
		case "master":
			daemon = masterCmd()
		case "node":
			daemon = nodeCmd()
		default:
			return fmt.Errorf("usage: %s", cmd.UseLine())
		}
		if err := daemon.ParseFlags(args[1:]); err != nil {
			return fmt.Errorf("%s flags: %w", args[0], err)
		}
		if daemon.Flags().NArg() > 0 {
			return fmt.Errorf("%s takes no arguments, only flags: %q", args[0], daemon.Flags().Args())
		}
		values := map[string]any{}
		daemon.Flags().Visit(func(f *pflag.Flag) {
			if f.Name != "config" {
				values[f.Name] = f.Value.String()
			}
		})
		confPath := filepath.Join(*configDir, args[0]+".json")
		if err := systemd.WriteConfig(confPath, values); err != nil {
			return err
		}
		bin, err := binary()
		if err != nil {
			return err
		}
		u := systemd.Unit{Name: "tffs-" + args[0], Description: "tffs " + args[0], Exec: []string{bin, args[0], "--config", confPath}}
		p, err := u.Write(*unitDir)
		if err != nil {
			return err
		}
		fmt.Printf("%s\n%s\n", confPath, p)
		fmt.Fprintf(os.Stderr, "start it with: systemctl daemon-reload && systemctl enable --now %s\n", u.Name)
		return nil
	}
	return cmd
}

// binary is this tffs binary's absolute path.
func binary() (string, error) {
	bin, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(bin)
}

// runUnit writes the unit that keeps `tffs run ARGS` (this command line
// without --systemd) running as a service.
func runUnit(unitDir, name string, argv []string) error {
	bin, err := binary()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(protocol.DefaultDir())
	if err != nil {
		return err
	}
	u := systemd.RunUnit(bin, name, argv, dir)
	p, err := u.Write(unitDir)
	if err != nil {
		return err
	}
	fmt.Println(p)
	fmt.Fprintf(os.Stderr, "start it with: systemctl daemon-reload && systemctl enable --now %s\n", u.Name)
	return nil
}

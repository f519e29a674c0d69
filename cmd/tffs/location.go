package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/cli"
	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/protocol"
)

// locationCmd is `tffs location up|ls|use`.
func locationCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "location", Short: "run a location here, or pick the default one"}
	cmd.AddCommand(locationUpCmd())
	cmd.AddCommand(&cobra.Command{Use: "ls", Aliases: []string{"list"}, Short: "list the configured locations (* = the default)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			locs, err := cli.Locations(protocol.DefaultDir())
			for _, l := range locs {
				mark := " "
				if l.Default {
					mark = "*"
				}
				fmt.Printf("%s %s\t%s\t%s\n", mark, l.Name, l.Master, l.MasterKey)
			}
			return err
		}})
	cmd.AddCommand(&cobra.Command{Use: "use NAME", Short: "make NAME the default location", Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return cli.UseLocation(protocol.DefaultDir(), args[0]) }})
	return cmd
}

func locationUpCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "up [--dir DIR] [--name NAME] [--mount DIR | --no-mount]", Short: "run a master, a node and a local account here", Args: cobra.NoArgs}
	fs := cmd.Flags()
	dir := fs.String("dir", filepath.Join(protocol.DefaultDir(), "location"), "location state directory")
	name := fs.String("name", "local", "location name (client config; the node's containerd namespace is tffs-NAME)")
	listen := fs.String("listen", fmt.Sprintf("tcp://127.0.0.1:%d", protocol.DefaultPort), "master endpoint")
	ctrd := fs.String("containerd", "", "containerd socket (empty: a private containerd)")
	mnt := fs.String("mount", "location", "mount the location here")
	noMount := fs.Bool("no-mount", false, "do not mount the location")
	timeout := fs.Duration("session-timeout", 2*time.Minute, "garbage-collect a silent session after this")
	debug := fs.Bool("debug", false, "debug logging")
	volumes := fs.String("volumes", "dir", "volume storage: dir (plain directories under --dir) or btrfs (a loop-mounted btrfs file under --dir, made on first use: cheap snapshots)")
	config := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := applyConfig(cmd, *config); err != nil {
			return err
		}
		return locationUp(cmd.Context(), *dir, *name, *listen, *ctrd, *mnt, *noMount, *timeout, *debug, *volumes)
	}
	return cmd
}

func locationUp(ctx context.Context, dir, name, listen, ctrd, mnt string, noMount bool, timeout time.Duration, debug bool, volumes string) error {
	log := logger(debug)
	nodeCfg, unmountVolumes, err := locationVolumes(dir, volumes)
	if err != nil {
		return err
	}
	defer unmountVolumes()
	fmt.Fprintln(os.Stderr, "starting the location (master, node, containerd) …")
	loc, err := location.Up(ctx, location.Config{Dir: dir, Name: name, Listen: listen, Containerd: ctrd, SessionTimeout: timeout, Log: log,
		NodeConfig: nodeCfg})
	if err != nil {
		return err
	}
	defer loc.Stop()
	var mounted *tffsfs.Mounted
	var mountDone <-chan struct{} // nil (never ready) without a mount
	if !noMount {
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			return err
		}
		if mounted, err = mountLive(ctx, "", mnt, log, 0); err != nil {
			return err
		}
		mountDone = mounted.Done()
	}
	fmt.Printf(`tffs location %q is up.
  master      %s  (key %s)
  client      config in %s (sdk.Connect(ctx) finds it)
  image       busybox
`, loc.Config.Name, loc.Config.Master, loc.Config.MasterKey, loc.ClientDir)
	if mounted != nil {
		fmt.Printf("  mounted at  %s\n", mnt)
	}
	fmt.Println("Try: go run ./examples/hello   — Ctrl-C stops everything.")
	// Whichever part ends first (Ctrl-C, the master, the node, the mount)
	// stops the others; a part that died makes the command fail.
	var cause error
	select {
	case <-ctx.Done():
	case <-loc.Done():
		cause = fmt.Errorf("location down: %w", loc.Err())
	case <-mountDone:
		cause = fmt.Errorf("the mount at %s ended (unmounted from outside?)", mnt)
	}
	fmt.Fprintln(os.Stderr, "stopping …") // the cause, if any, is the command's error
	if mounted != nil {
		if err := mounted.Unmount(); err != nil {
			log.Warn("unmount", "dir", mnt, "err", err)
		}
	}
	err = loc.Stop()
	if cause != nil {
		return cause
	}
	return err
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/node/volume"
	"github.com/tffs/tffs/sdk"
)

const volumeUsage = `usage: tffs volume [--location NAME] COMMAND
  create NAME [--tag TAG] [--node NODE]   make a persistent volume of your account
  ls                                      list your volumes
  info NAME                               describe a volume (JSON: size used, snapshots, mounts)
  rm NAME                                 destroy a volume (refused while a container mounts it)
  snapshot NAME                           take a snapshot
  rollback NAME                           go back to the last snapshot (refused while mounted)
  move NAME NODE                          move a volume no container mounts to another node
NAME is a volume's name or tag.`

// volumeMain is `tffs volume …`: it connects to the location and runs
// volumeCLI.
func volumeMain(ctx context.Context, args []string) error {
	location := ""
	if len(args) >= 2 && (args[0] == "--location" || args[0] == "-location") {
		location, args = args[1], args[2:]
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Println(volumeUsage)
		return nil
	}
	loc, err := connect(ctx, location)
	if err != nil {
		return err
	}
	defer loc.Close()
	return volumeCLI(ctx, loc, args, os.Stdout)
}

// volumeCLI carries out one volume command (args without "volume") on loc,
// printing to stdout.
func volumeCLI(ctx context.Context, loc *sdk.Location, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", volumeUsage)
	}
	cmd, pos, flags, err := splitVolumeArgs(args)
	if err != nil {
		return err
	}
	want := map[string]int{"create": 1, "ls": 0, "list": 0, "info": 1, "rm": 1, "snapshot": 1, "rollback": 1, "move": 2}
	n, ok := want[cmd]
	if !ok {
		return fmt.Errorf("unknown volume command %q\n%s", cmd, volumeUsage)
	}
	if len(pos) != n {
		return fmt.Errorf("tffs volume %s takes %d argument(s)\n%s", cmd, n, volumeUsage)
	}
	for f := range flags {
		if cmd != "create" || (f != "tag" && f != "node") {
			return fmt.Errorf("tffs volume %s: unknown flag --%s\n%s", cmd, f, volumeUsage)
		}
	}
	switch cmd {
	case "create":
		var opts []sdk.VolumeOption
		if t := flags["tag"]; t != "" {
			opts = append(opts, sdk.VolumeTag(t))
		}
		if nd := flags["node"]; nd != "" {
			opts = append(opts, sdk.VolumeOnNode(nd))
		}
		v, err := loc.CreateVolume(ctx, pos[0], opts...)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s on %s\n", v.Name, v.Node)
		return nil
	case "ls", "list":
		list, err := loc.Volumes(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tTAG\tNODE\tSNAPSHOTS\tMOUNTED BY")
		for _, v := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", v.Name, orDash(v.Tag), v.Node, len(v.Snapshots), orDash(strings.Join(v.Mounts, ",")))
		}
		return w.Flush()
	}
	v := loc.VolumeByName(pos[0])
	switch cmd {
	case "info":
		info, err := v.Info(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	case "rm":
		return v.Destroy(ctx)
	case "snapshot":
		return v.Snapshot(ctx)
	case "rollback":
		return v.Rollback(ctx)
	default: // move
		if err := v.Move(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s on %s\n", v.Name, v.Node)
		return nil
	}
}

// splitVolumeArgs splits a command's words into the command, its
// positional arguments and its --flag VALUE (or --flag=VALUE) pairs, in
// any order.
func splitVolumeArgs(args []string) (cmd string, pos []string, flags map[string]string, err error) {
	cmd, flags = args[0], map[string]string{}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if k, val, ok := strings.Cut(name, "="); ok {
			flags[k] = val
			continue
		}
		if i+1 >= len(args) {
			return "", nil, nil, fmt.Errorf("flag %s needs a value", a)
		}
		flags[name] = args[i+1]
		i++
	}
	return cmd, pos, flags, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// locationVolumes prepares the volume storage of `tffs location up`: for
// btrfs, a 20 GiB sparse file under dir holding a btrfs filesystem,
// loop-mounted for the node (the returned function unmounts it).
func locationVolumes(dir, driver string) (func(*node.Config), func() error, error) {
	switch driver {
	case "dir":
		return nil, func() error { return nil }, nil
	case "btrfs":
	default:
		return nil, nil, fmt.Errorf("--volumes %q: btrfs or dir", driver)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	mnt := filepath.Join(dir, "volumes-btrfs")
	unmount, err := volume.MountBtrfsFile(filepath.Join(dir, "volumes.btrfs"), mnt, 20<<30)
	if err != nil {
		return nil, nil, fmt.Errorf("btrfs volume storage (or use --volumes dir): %w", err)
	}
	vc := volume.Config{Driver: "btrfs", Dir: filepath.Join(mnt, "volumes")}
	return func(c *node.Config) { c.Volumes = vc }, unmount, nil
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tffs/tffs/internal/cli"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/node/volume"
	"github.com/tffs/tffs/sdk"
)

// volumeCmd is `tffs volume …`: the account's persistent volumes.
func volumeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "manage your persistent volumes (NAME is a volume's name or tag)", Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown volume command %q (see tffs volume --help)", args[0])
			}
			return cmd.Help()
		}}
	// withLoc runs f on a session with the location.
	withLoc := func(f func(ctx context.Context, loc *sdk.Location, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			loc, err := cli.Connect(cmd.Context(), "", locationFlag)
			if err != nil {
				return err
			}
			defer loc.Close()
			return f(cmd.Context(), loc, args)
		}
	}
	create := &cobra.Command{Use: "create NAME [--tag TAG] [--node NODE]", Short: "make a persistent volume of your account", Args: usageArgs(1)}
	tag := create.Flags().String("tag", "", "tag of the volume (unique among your volumes)")
	onNode := create.Flags().String("node", "", "node whose storage holds it (default: the location chooses)")
	create.RunE = withLoc(func(ctx context.Context, loc *sdk.Location, args []string) error {
		return cli.CreateVolume(ctx, loc, os.Stdout, args[0], *tag, *onNode)
	})
	ls := &cobra.Command{Use: "ls", Aliases: []string{"list"}, Short: "list your volumes", Args: usageArgs(0),
		RunE: withLoc(func(ctx context.Context, loc *sdk.Location, _ []string) error {
			return cli.ListVolumes(ctx, loc, os.Stdout)
		})}
	info := &cobra.Command{Use: "info NAME", Short: "describe a volume (JSON: size used, snapshots, mounts)", Args: usageArgs(1),
		RunE: withLoc(func(ctx context.Context, loc *sdk.Location, args []string) error {
			return cli.VolumeInfo(ctx, loc, os.Stdout, args[0])
		})}
	rm := &cobra.Command{Use: "rm NAME", Short: "destroy a volume (refused while a container mounts it)", Args: usageArgs(1),
		RunE: withLoc(func(ctx context.Context, loc *sdk.Location, args []string) error {
			return loc.VolumeByName(args[0]).Destroy(ctx)
		})}
	snap := &cobra.Command{Use: "snapshot NAME", Short: "take a snapshot", Args: usageArgs(1),
		RunE: withLoc(func(ctx context.Context, loc *sdk.Location, args []string) error {
			return loc.VolumeByName(args[0]).Snapshot(ctx)
		})}
	roll := &cobra.Command{Use: "rollback NAME", Short: "go back to the last snapshot (refused while mounted)", Args: usageArgs(1),
		RunE: withLoc(func(ctx context.Context, loc *sdk.Location, args []string) error {
			return loc.VolumeByName(args[0]).Rollback(ctx)
		})}
	move := &cobra.Command{Use: "move NAME NODE", Short: "move a volume no container mounts to another node", Args: usageArgs(2),
		RunE: withLoc(func(ctx context.Context, loc *sdk.Location, args []string) error {
			return cli.MoveVolume(ctx, loc, os.Stdout, args[0], args[1])
		})}
	cmd.AddCommand(create, ls, info, rm, snap, roll, move)
	return cmd
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

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/sdk"
)

// mountLive mounts the location at dir, which must be an existing directory.
func mountLive(ctx context.Context, location, dir string, log *slog.Logger, callTimeout time.Duration) (*tffsfs.Mounted, error) {
	if fi, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mount point %s does not exist", dir)
	} else if err != nil {
		return nil, fmt.Errorf("mount point: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("mount point %s is not a directory", dir)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var opts []sdk.Option
	if location != "" {
		opts = append(opts, sdk.WithLocation(location))
	}
	opts = append(opts, sdk.WithLogger(log))
	loc, err := sdk.Connect(cctx, opts...)
	if err != nil {
		return nil, err
	}
	// The mount outlives the connect timeout: it ends with ctx or an unmount.
	m, err := tffsfs.Mount(ctx, loc, dir, log, tffsfs.CallTimeout(callTimeout))
	if err != nil {
		loc.Close()
		return nil, err
	}
	return m, nil
}

// mountCmd is `tffs mount [--location NAME] MNT`: it serves until Ctrl-C
// or until the mount is unmounted from outside. MNT must exist.
func mountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mount [--timeout 30s] MNT", Short: "mount the location as a filesystem", Args: usageArgs(1)}
	timeout := cmd.Flags().Duration("timeout", tffsfs.DefaultCallTimeout, "a file operation waiting this long for the location fails with EIO")
	debug := cmd.Flags().Bool("debug", false, "debug logging")
	config := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := applyConfig(cmd, *config); err != nil {
			return err
		}
		ctx, mnt := cmd.Context(), args[0]
		m, err := mountLive(ctx, locationFlag, mnt, logger(*debug), *timeout)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "mounted at %s — Ctrl-C (or fusermount3 -u %s) unmounts and ends the session\n", mnt, mnt)
		select {
		case <-ctx.Done():
			return m.Unmount()
		case <-m.Done():
			return nil
		}
	}
	return cmd
}

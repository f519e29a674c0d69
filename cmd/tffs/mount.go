package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

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

// mountCommand is `tffs mount [--location NAME] MNT`: it serves until
// Ctrl-C or until the mount is unmounted from outside. MNT must exist.
func mountCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mount", flag.ContinueOnError)
	locName := fs.String("location", "", "location name (default: the default location)")
	timeout := fs.Duration("timeout", tffsfs.DefaultCallTimeout, "a file operation waiting this long for the location fails with EIO")
	debug := fs.Bool("debug", false, "debug logging")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: tffs mount [--location NAME] [--timeout 30s] MNT")
	}
	log := logger(*debug)
	m, err := mountLive(ctx, *locName, fs.Arg(0), log, *timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "mounted at %s — Ctrl-C (or fusermount3 -u %s) unmounts and ends the session\n", fs.Arg(0), fs.Arg(0))
	select {
	case <-ctx.Done():
		return m.Unmount()
	case <-m.Done():
		return nil
	}
}

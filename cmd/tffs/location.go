package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/protocol"
)

func locationUp(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("location up", flag.ContinueOnError)
	dir := fs.String("dir", filepath.Join(protocol.DefaultDir(), "location"), "location state directory")
	name := fs.String("name", "local", "location name (client config; the node's containerd namespace is tffs-NAME)")
	listen := fs.String("listen", fmt.Sprintf("tcp://127.0.0.1:%d", protocol.DefaultPort), "master endpoint")
	ctrd := fs.String("containerd", "", "containerd socket (empty: a private containerd)")
	mnt := fs.String("mount", "location", "mount the location here")
	noMount := fs.Bool("no-mount", false, "do not mount the location")
	timeout := fs.Duration("session-timeout", 2*time.Minute, "garbage-collect a silent session after this")
	debug := fs.Bool("debug", false, "debug logging")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := logger(*debug)
	fmt.Fprintln(os.Stderr, "starting the location (master, node, containerd) …")
	loc, err := location.Up(ctx, location.Config{Dir: *dir, Name: *name, Listen: *listen, Containerd: *ctrd, SessionTimeout: *timeout, Log: log})
	if err != nil {
		return err
	}
	defer loc.Stop()
	var unmount func()
	if !*noMount {
		unmount, err = mountLocation(ctx, *mnt, log)
		if err != nil {
			return err
		}
	}
	fmt.Printf(`tffs location %q is up.
  master      %s  (key %s)
  client      config in %s (sdk.Connect(ctx) finds it)
  image       busybox
`, loc.Config.Name, loc.Config.Master, loc.Config.MasterKey, loc.ClientDir)
	if unmount != nil {
		fmt.Printf("  mounted at  %s\n", *mnt)
	}
	fmt.Println("Try: go run ./examples/hello   — Ctrl-C stops everything.")
	select {
	case <-ctx.Done():
	case <-loc.NodeDone():
		fmt.Fprintln(os.Stderr, "node stopped:", loc.NodeErr())
	}
	fmt.Fprintln(os.Stderr, "stopping …")
	if unmount != nil {
		unmount()
	}
	return loc.Stop()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tffs/tffs/master"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/node/volume"
	"github.com/tffs/tffs/protocol"
)

func masterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "master [--dir DIR] [--listen ADDR] [--config FILE]", Short: "run a master", Args: cobra.NoArgs}
	fs := cmd.Flags()
	dir := fs.String("dir", "/var/lib/tffs/master", "state directory")
	listen := fs.String("listen", fmt.Sprintf("tcp://0.0.0.0:%d", protocol.DefaultPort), "ZeroMQ endpoint")
	timeout := fs.Duration("session-timeout", 2*time.Minute, "garbage-collect a silent session after this")
	var lim master.Limits
	fs.IntVar(&lim.Containers, "max-containers", master.DefaultMaxContainers, "containers alive at once per account (-1: no limit)")
	fs.IntVar(&lim.Processes, "max-processes", master.DefaultMaxProcesses, "running exec'd processes per account (-1: no limit)")
	fs.Int64Var(&lim.LayerBytes, "max-layer-bytes", master.DefaultMaxLayerBytes, "stored layer bytes per account (-1: no limit)")
	fs.IntVar(&lim.Uploads, "max-uploads", master.DefaultMaxUploads, "concurrent layer uploads per account (-1: no limit)")
	fs.IntVar(&lim.Volumes, "max-volumes", master.DefaultMaxVolumes, "persistent volumes per account (-1: no limit)")
	debug := fs.Bool("debug", false, "debug logging")
	network := fs.String("network", "", "the containers' private range, an IPv4 /16 (default: the stored one, else a random 10.x.0.0/16)")
	httpAddr := fs.String("http", "", "web gateway HTTP address, host:port (empty: none)")
	httpsAddr := fs.String("https", "", "web gateway HTTPS address, host:port (empty: none)")
	config := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := applyConfig(cmd, *config); err != nil {
			return err
		}
		return runMaster(cmd.Context(), master.Config{Dir: *dir, Listen: *listen, SessionTimeout: *timeout, Limits: lim, Log: logger(*debug),
			Network: *network, HTTPListen: *httpAddr, HTTPSListen: *httpsAddr})
	}
	return cmd
}

func runMaster(ctx context.Context, cfg master.Config) error {
	dir := cfg.Dir
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("master %s\npublic key %s\n", m.Addr(), m.PublicKey())
	// The admin socket and the master stop together: a failing admin
	// socket (it cannot be made, or stops serving) stops the master.
	adminErr := make(chan error, 1)
	go func() { adminErr <- m.ServeAdmin(ctx, filepath.Join(dir, master.AdminSocket)) }()
	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx) }()
	select {
	case err := <-runErr:
		if aerr := <-adminErr; !errors.Is(aerr, protocol.ErrUnavailable) { // not: it came after the stop
			err = errors.Join(err, aerr)
		}
		return err
	case err := <-adminErr:
		if err == nil || errors.Is(err, protocol.ErrUnavailable) {
			return <-runErr // the master is stopping
		}
		m.Close()
		<-runErr
		return fmt.Errorf("master stopped: %w", err)
	}
}

func nodeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "node --name NAME --master ADDR --master-key KEY", Short: "run a node (or register/remove/list node keys with the running master)", Args: cobra.NoArgs}
	fs := cmd.Flags()
	name := fs.String("name", "", "node name (as registered with the master)")
	dir := fs.String("dir", "/var/lib/tffs/node", "state directory (key pair, private containerd)")
	addr := fs.String("master", "", "master endpoint, host:port or tcp://host:port")
	key := fs.String("master-key", "", "master public key")
	ctrd := fs.String("containerd", "", "containerd socket (empty: start a private containerd under --dir)")
	ns := fs.String("namespace", "", "containerd namespace (default tffs-NAME)")
	uidStart := fs.Uint("uid-start", runtime.DefaultUIDStart, "first host uid/gid of the containers' user namespace range")
	uidSize := fs.Uint("uid-size", runtime.DefaultUIDSize, "number of uids/gids in the containers' user namespace range")
	pids := fs.Int64("pids-limit", runtime.DefaultPidsLimit, "most processes per container (-1: unlimited)")
	memory := fs.Int64("memory-limit", runtime.DefaultMemory, "memory limit in bytes of a container that asks for none (-1: unlimited)")
	trusted := fs.String("trusted-images", "", "comma-separated image config digests (sha256:...) whose containers may ask for less hardening (sdk.Trusted...); * = every image")
	debug := fs.Bool("debug", false, "debug logging")
	printKey := fs.Bool("print-key", false, "print this node's public key and exit")
	var vol volume.Config
	fs.StringVar(&vol.Driver, "volume-driver", "dir", "storage driver of persistent volumes: dir, btrfs or zfs")
	fs.StringVar(&vol.Dir, "volume-dir", "", "where dir and btrfs keep volumes (btrfs: a directory on a btrfs filesystem; default DIR/volumes)")
	fs.StringVar(&vol.Dataset, "volume-dataset", "", "zfs dataset under which volumes are made (zfs driver), e.g. tank/tffs")
	lanAddr := fs.String("addr", "", "the address other nodes reach this one on (joins the containers' LAN across hosts)")
	config := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := applyConfig(cmd, *config); err != nil {
			return err
		}
		return runNode(cmd.Context(), nodeFlags{*name, *dir, *addr, *key, *ctrd, *ns, *uidStart, *uidSize, *pids, *memory, *trusted, *debug, *printKey, vol, *lanAddr})
	}
	cmd.AddCommand(adminCmds("nodes")...)
	return cmd
}

// nodeFlags are the node daemon's settings.
type nodeFlags struct {
	name, dir, addr, key, ctrd, ns string
	uidStart, uidSize              uint
	pids, memory                   int64
	trusted                        string
	debug, printKey                bool
	volumes                        volume.Config
	lanAddr                        string
}

func runNode(ctx context.Context, f nodeFlags) error {
	if f.printKey {
		kp, err := protocol.LoadOrCreateKeyPair(f.dir, "node")
		if err != nil {
			return err
		}
		fmt.Println(kp.Public)
		return nil
	}
	if f.uidStart > 1<<31 || f.uidSize > 1<<31 {
		return fmt.Errorf("--uid-start and --uid-size must be below 2^31: %w", protocol.ErrInvalid)
	}
	n, err := node.New(node.Config{Name: f.name, Dir: f.dir, Master: protocol.TCPAddr(f.addr), MasterKey: f.key,
		Containerd: f.ctrd, Namespace: f.ns, Log: logger(f.debug), TrustedImages: splitList(f.trusted), Addr: f.lanAddr,
		Hardening: runtime.Hardening{UIDStart: uint32(f.uidStart), UIDSize: uint32(f.uidSize), PidsLimit: f.pids, Memory: f.memory},
		Volumes:   f.volumes})
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

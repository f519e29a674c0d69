package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/tffs/tffs/master"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

func runMaster(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("master", flag.ContinueOnError)
	dir := fs.String("dir", "/var/lib/tffs/master", "state directory")
	listen := fs.String("listen", fmt.Sprintf("tcp://0.0.0.0:%d", protocol.DefaultPort), "ZeroMQ endpoint")
	timeout := fs.Duration("session-timeout", 2*time.Minute, "garbage-collect a silent session after this")
	var lim master.Limits
	fs.IntVar(&lim.Containers, "max-containers", master.DefaultMaxContainers, "containers alive at once per account (-1: no limit)")
	fs.IntVar(&lim.Processes, "max-processes", master.DefaultMaxProcesses, "running exec'd processes per account (-1: no limit)")
	fs.Int64Var(&lim.LayerBytes, "max-layer-bytes", master.DefaultMaxLayerBytes, "stored layer bytes per account (-1: no limit)")
	fs.IntVar(&lim.Uploads, "max-uploads", master.DefaultMaxUploads, "concurrent layer uploads per account (-1: no limit)")
	debug := fs.Bool("debug", false, "debug logging")
	network := fs.String("network", "", "the containers' private range, an IPv4 /16 (default: the stored one, else a random 10.x.0.0/16)")
	httpAddr := fs.String("http", "", "web gateway HTTP address, host:port (empty: none)")
	httpsAddr := fs.String("https", "", "web gateway HTTPS address, host:port (empty: none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := master.New(master.Config{Dir: *dir, Listen: *listen, SessionTimeout: *timeout, Limits: lim, Log: logger(*debug),
		Network: *network, HTTPListen: *httpAddr, HTTPSListen: *httpsAddr})
	if err != nil {
		return err
	}
	fmt.Printf("master %s\npublic key %s\n", m.Addr(), m.PublicKey())
	// The admin socket and the master stop together: a failing admin
	// socket (it cannot be made, or stops serving) stops the master.
	adminErr := make(chan error, 1)
	go func() { adminErr <- m.ServeAdmin(ctx, filepath.Join(*dir, master.AdminSocket)) }()
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

func runNode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
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
	lanAddr := fs.String("addr", "", "the address other nodes reach this one on (joins the containers' LAN across hosts)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *printKey {
		kp, err := protocol.LoadOrCreateKeyPair(*dir, "node")
		if err != nil {
			return err
		}
		fmt.Println(kp.Public)
		return nil
	}
	if *uidStart > 1<<31 || *uidSize > 1<<31 {
		return fmt.Errorf("--uid-start and --uid-size must be below 2^31: %w", protocol.ErrInvalid)
	}
	n, err := node.New(node.Config{Name: *name, Dir: *dir, Master: protocol.TCPAddr(*addr), MasterKey: *key,
		Containerd: *ctrd, Namespace: *ns, Log: logger(*debug), TrustedImages: splitList(*trusted), Addr: *lanAddr,
		Hardening: runtime.Hardening{UIDStart: uint32(*uidStart), UIDSize: uint32(*uidSize), PidsLimit: *pids, Memory: *memory}})
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

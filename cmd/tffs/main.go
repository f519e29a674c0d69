// Command tffs is the one tffs binary: it runs a master, a node or a whole
// embedded location, mounts a location as a filesystem, and manages
// accounts and images. It only parses flags and wires the packages
// together; the work is done in master, node, sdk and fs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

const usage = `tffs — containers driven from Go or from files

Usage:
  tffs location up [--dir DIR] [--name NAME] [--mount DIR | --no-mount]   run a master, a node and a local account here
  tffs master [--dir DIR] [--listen ADDR] [--config FILE]   run a master
  tffs node --name NAME --master ADDR --master-key KEY       run a node
  tffs node register|remove NAME [PUBKEY]                    register a node key with the running master
  tffs account add NAME PUBKEY | list | remove NAME          manage client accounts of the running master
  tffs key                                                   print this machine's client public key
  tffs image import FILE|DIR | list | busybox OUT            manage images
  tffs run IMAGE [CMD...]                                    spawn a container, stream its output, exit with its code
  tffs resources                                             print the resource offer
  tffs volume create|ls|info|rm|snapshot|rollback|move ...   manage your persistent volumes
  tffs mount [--timeout 30s] MNT                             mount the location as a filesystem

Every daemon takes --config FILE (JSON with the flag names as keys) and --debug.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	flushSockets()
	if err != nil {
		if ec, ok := err.(exitCode); ok {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "tffs:", err)
		os.Exit(1)
	}
}

// flushSockets lets messages queued on closed ZeroMQ sockets leave before
// the process exits: a socket's linger only runs while the process lives,
// so exiting right after sdk.Location.Close would often drop the session's
// goodbye, and the master would keep the session (and its containers, e.g.
// those of an unmounted `tffs mount`) until it timed out. Terminating the
// context waits for that, up to the sockets' linger; it does not return
// while a socket is still open (the ZAP handler's, in a master: stopped
// first), hence also the bound.
func flushSockets() {
	done := make(chan struct{})
	go func() {
		zmq.AuthStop() // a no-op unless this process ran a master
		zmq.Term()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(500 * time.Millisecond):
	}
}

// exitCode makes tffs exit with a code without printing an error.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Print(usage)
		return exitCode(2)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "master":
		return runMaster(ctx, rest)
	case "node":
		if len(rest) > 0 && (rest[0] == "register" || rest[0] == "remove" || rest[0] == "list") {
			return adminCommand(ctx, "nodes", rest)
		}
		return runNode(ctx, rest)
	case "account":
		return adminCommand(ctx, "accounts", rest)
	case "location":
		if len(rest) == 0 || rest[0] != "up" {
			return fmt.Errorf("usage: tffs location up [--dir DIR] [--mount DIR]")
		}
		return locationUp(ctx, rest[1:])
	case "key":
		return printKey(rest)
	case "image":
		return imageCommand(ctx, rest)
	case "run":
		return runCommand(ctx, rest)
	case "resources":
		return resources(ctx, rest)
	case "volume":
		return volumeMain(ctx, rest)
	case "mount":
		return mountCommand(ctx, rest)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

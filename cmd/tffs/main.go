// Command tffs is the one tffs binary: it runs a master, a node or a whole
// embedded location, mounts a location as a filesystem, runs containers
// from the command line, and manages accounts and images. It only parses
// flags (github.com/spf13/cobra) and wires the packages together; the work
// is done in master, node, sdk, fs and the internal/cli packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/spf13/cobra"
	"github.com/tffs/tffs/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	flushSockets()
	if err != nil {
		var ec cli.ExitCode
		if errors.As(err, &ec) {
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

// locationFlag is the persistent --location every command takes.
var locationFlag string

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tffs",
		Short: "tffs — containers driven from Go, from files or from the command line",
		Long: `tffs — containers driven from Go, from files or from the command line.

Every daemon takes --config FILE (JSON with the flag names as keys) and --debug.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().StringVar(&locationFlag, "location", "", "location name (default: the default location)")
	root.AddCommand(masterCmd(), nodeCmd(), accountCmd(), locationCmd(), keyCmd(), imageCmd(),
		runCmd(), resourcesCmd(), mountCmd(), joinCmd(), systemdCmd(), volumeCmd())
	return root
}

// usageArgs is cobra.ExactArgs with the command's usage line in its error.
func usageArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("usage: %s", cmd.UseLine())
		}
		return nil
	}
}

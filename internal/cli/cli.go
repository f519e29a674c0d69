// Package cli holds the logic of the tffs command line that is more than
// flag parsing: `tffs run` (environment, files, interactive terminals,
// exit codes), image resolution, location configs, keys and invitations.
// cmd/tffs parses flags and calls it.
package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/tffs/tffs/sdk"
)

// ExitCode makes tffs exit with a code without printing an error.
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// Interrupted is the exit code of a session ended by Ctrl-C or SIGTERM
// (128 + SIGINT, as a shell reports it).
const Interrupted = 130

// ConnectTimeout bounds the connection to a location.
const ConnectTimeout = 15 * time.Second

// Connect opens a session with the named location ("" = the default one)
// from the client directory dir ("" = ~/.tffs or $TFFS_DIR).
func Connect(ctx context.Context, dir, location string, opts ...sdk.Option) (*sdk.Location, error) {
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	if dir != "" {
		opts = append(opts, sdk.WithDir(dir))
	}
	if location != "" {
		opts = append(opts, sdk.WithLocation(location))
	}
	return sdk.Connect(cctx, opts...)
}

package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/tffs/tffs/internal/dirsync"
	"github.com/tffs/tffs/sdk"
)

// startSyncs starts mirroring each LOCALDIR:/path of specs into ctr until
// ctx ends, and returns after their initial copies.
func startSyncs(ctx context.Context, ctr *sdk.Container, specs []string) error {
	for _, spec := range specs {
		local, remote, err := dirsync.Parse(spec)
		if err != nil {
			return err
		}
		s := &dirsync.Syncer{Container: ctr, Local: local, Remote: remote}
		ready := make(chan struct{})
		failed := make(chan error, 1)
		go func() {
			if err := s.Run(ctx, ready); err != nil {
				failed <- err
				fmt.Fprintf(os.Stderr, "tffs: sync %s: %v\n", spec, err)
			}
		}()
		select {
		case <-ready:
		case err := <-failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

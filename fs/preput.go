package fs

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/tffs/tffs/sdk"
)

// putPreBoot puts the pre-boot entries (paths sorted, so a directory comes
// before what it holds) into the held container sc: directories with their
// modes (empty ones too), files streamed from their spools with their
// modes, sizes past the written part made by a truncate on the node (a
// hole, as here). A put may take long, but not without progress: it
// fails when the location takes no bytes for the mount's call timeout.
func putPreBoot(ctx context.Context, sc *sdk.Container, paths []string, pre []*preEntry) error {
	for i, p := range paths {
		e := pre[i]
		mode := os.FileMode(e.mode) & preModeBits
		if e.dir {
			cctx, cancel := callCtx(ctx)
			err := sc.Mkdir(cctx, p, mode.Perm())
			if err == nil && mode != mode.Perm() {
				_, err = sc.Setattr(cctx, sdk.SetattrRequest{Path: p, Valid: sdk.SetMode, Mode: unixPerm(mode)})
			}
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		stall := time.AfterFunc(timeoutOf(ctx), cancel)
		pr := &progressReader{r: e.body.written(), progress: func() { stall.Reset(timeoutOf(ctx)) }}
		err := sc.PutReader(pctx, p, pr, mode)
		stall.Stop()
		cancel()
		if err != nil {
			return err
		}
		if e.body.size > e.body.dataEnd || mode != mode.Perm() || !e.mtime.IsZero() {
			cctx, cancel := callCtx(ctx)
			r := sdk.SetattrRequest{Path: p, Valid: sdk.SetMode | sdk.SetMtime, Mode: unixPerm(mode), Mtime: e.mtime.UnixNano()}
			if e.body.size > e.body.dataEnd {
				r.Valid |= sdk.SetSize
				r.Size = e.body.size
			}
			_, err = sc.Setattr(cctx, r)
			cancel()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// progressReader calls progress on every read, so a stalled upload can be
// told from a slow one.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.progress()
	return p.r.Read(b)
}

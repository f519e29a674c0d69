package fs

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/tffs/tffs/sdk"
)

// putPreBoot puts the pre-boot entries (paths sorted, so a directory comes
// before what it holds) into the held container sc: directories (empty
// ones too) and files streamed from their spools, each with its mode,
// owner and times (a directory's times last, as putting its entries
// changes them); a size past the written part is a truncate on the node
// (a hole, as here). A put may take long, but not without progress: it
// fails when the location takes no bytes for the mount's call timeout.
func putPreBoot(ctx context.Context, sc *sdk.Container, paths []string, pre []*preEntry) error {
	setattr := func(r sdk.SetattrRequest) error {
		if r.Valid == 0 {
			return nil
		}
		cctx, cancel := callCtx(ctx)
		defer cancel()
		_, err := sc.Setattr(cctx, r)
		return err
	}
	for i, p := range paths {
		e := pre[i]
		mode := os.FileMode(e.mode) & preModeBits
		if e.dir {
			cctx, cancel := callCtx(ctx)
			err := sc.Mkdir(cctx, p, mode.Perm())
			cancel()
			if err != nil {
				return err
			}
		} else {
			pctx, cancel := context.WithCancel(ctx)
			stall := time.AfterFunc(timeoutOf(ctx), cancel)
			pr := &progressReader{r: e.body.written(), progress: func() { stall.Reset(timeoutOf(ctx)) }}
			err := sc.PutReader(pctx, p, pr, mode)
			stall.Stop()
			cancel()
			if err != nil {
				return err
			}
		}
		// chown before chmod (a chown clears setuid and setgid)
		r := e.ownerTimes(p)
		if e.dir {
			r.Valid &^= sdk.SetAtime | sdk.SetMtime
		}
		if !e.dir && e.body.size > e.body.dataEnd {
			r.Valid |= sdk.SetSize
			r.Size = e.body.size
		}
		if err := setattr(r); err != nil {
			return err
		}
		if mode != mode.Perm() || r.Valid&(sdk.SetUID|sdk.SetGID) != 0 {
			if err := setattr(sdk.SetattrRequest{Path: p, Valid: sdk.SetMode, Mode: unixPerm(mode)}); err != nil {
				return err
			}
		}
	}
	for i := len(paths) - 1; i >= 0; i-- {
		if e := pre[i]; e.dir && e.timesSet {
			r := e.ownerTimes(paths[i])
			r.Valid &^= sdk.SetUID | sdk.SetGID
			if err := setattr(r); err != nil {
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

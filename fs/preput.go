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
// ones too), files streamed from their spools, symlinks, FIFOs and
// sockets (made by the node as the container's own), each with its mode,
// owner and times; then the hard links (an entry's later names, and links
// to the image's files); a directory's times last, as putting its entries
// changes them. A size past the written part is a truncate on the node
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
	mk := func(r sdk.MakeRequest) error {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		_, err := sc.Make(cctx, r)
		return err
	}
	first := map[*preEntry]string{} // an entry's first name, put
	var links []sdk.MakeRequest
	for i, p := range paths {
		e := pre[i]
		if e.kind == preKindImageLink {
			links = append(links, sdk.MakeRequest{Path: p, Kind: sdk.MakeLink, Target: e.target})
			continue
		}
		if q, ok := first[e]; ok {
			links = append(links, sdk.MakeRequest{Path: p, Kind: sdk.MakeLink, Target: q})
			continue
		}
		first[e] = p
		mode := os.FileMode(e.mode) & preModeBits
		var err error
		switch e.kind {
		case preKindDir:
			cctx, cancel := callCtx(ctx)
			err = sc.Mkdir(cctx, p, mode.Perm())
			cancel()
		case preKindSymlink:
			err = mk(sdk.MakeRequest{Path: p, Kind: sdk.MakeSymlink, Target: e.target})
		case preKindFIFO, preKindSocket:
			err = mk(sdk.MakeRequest{Path: p, Kind: e.kind.makeKind(), Mode: unixPerm(mode.Perm())})
		default:
			pctx, cancel := context.WithCancel(ctx)
			stall := time.AfterFunc(timeoutOf(ctx), cancel)
			pr := &progressReader{r: e.body.written(), progress: func() { stall.Reset(timeoutOf(ctx)) }}
			err = sc.PutReader(pctx, p, pr, mode)
			stall.Stop()
			cancel()
		}
		if err != nil {
			return err
		}
		// chown before chmod (a chown clears setuid and setgid)
		r := e.ownerTimes(p)
		if e.isDir() {
			r.Valid &^= sdk.SetAtime | sdk.SetMtime
		}
		if e.kind == preKindFile && e.body.size > e.body.dataEnd {
			r.Valid |= sdk.SetSize
			r.Size = e.body.size
		}
		if err := setattr(r); err != nil {
			return err
		}
		if e.kind != preKindSymlink && (mode != mode.Perm() || r.Valid&(sdk.SetUID|sdk.SetGID) != 0) {
			if err := setattr(sdk.SetattrRequest{Path: p, Valid: sdk.SetMode, Mode: unixPerm(mode)}); err != nil {
				return err
			}
		}
	}
	for _, l := range links {
		if err := mk(l); err != nil {
			return err
		}
	}
	for i := len(paths) - 1; i >= 0; i-- {
		if e := pre[i]; e.isDir() && e.timesSet {
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

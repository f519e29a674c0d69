package fs

import (
	"context"
	"math"
	"os"
	"time"

	"bazil.org/fuse"

	"github.com/tffs/tffs/sdk"
)

// A setattr (chmod, chown, utimes) of a regular file this mount holds open
// and whose attributes it knows (it created the file, or a setattr of
// this mount answered them since the file was opened) is queued in the
// file's write pipeline (writebehind.go) instead of being waited for: it
// is answered at once with the attributes it will give, and goes to the
// node after the writes queued before it; writes queued after it wait for
// it. What that promises:
//   - close(2) (flush) and fsync(2) wait for it and report it if it failed
//     (EPERM, ENOENT… as the node gave it), as for a write; a later
//     write(2) reports it too;
//   - consecutive setattrs queued while the first has not started go to
//     the node as one call (tar's futimens, fchown, fchmod of each file);
//   - while any of them is on its way, stat through this mount answers
//     the predicted attributes (size from the writes queued, mtime and
//     ctime when they were queued, the fields set as asked); once none
//     is, the node's;
//   - a setattr changing the size, one of a file not open, or one made
//     after a failure not yet reported, is done at once and waited for.
//
// A process in the container sees the change once it reached the node.

// attrOp is one setattr queued in a file's pipeline.
type attrOp struct {
	seq     uint64
	req     sdk.SetattrRequest
	due     bool // attrDelay passed since it was queued
	started bool // taken by its call: no further setattr merges into it
}

// attrDelay is how long a queued setattr waits, unless something waits
// for it (a close, fsync, write, or a change of a name), for the next
// setattr of the file to merge into it (tar sets times, owner and mode
// one after the other).
const attrDelay = 2 * time.Millisecond

// deferrable are the setattr fields that may be queued.
const deferrable = fuse.SetattrMode | fuse.SetattrUid | fuse.SetattrGid |
	fuse.SetattrAtime | fuse.SetattrMtime | fuse.SetattrAtimeNow | fuse.SetattrMtimeNow |
	fuse.SetattrHandle | fuse.SetattrLockOwner | fuse.SetattrCTime

// queueAttr queues setattr r of file f (entering f in set), or merges it
// into the newest setattr queued when that has not started and nothing
// was queued after it; op is nil when r merged. ok is false, and nothing
// queued, when a failure is waiting to be reported (the caller then does
// the setattr at once, which reports its own result).
func (w *writeBehind) queueAttr(set *writingFiles, f *liveFile, r sdk.SetattrRequest) (op *attrOp, ok bool) {
	w.lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, false
	}
	if a := w.attr; a != nil && !a.started && a.seq == w.seq && mergeAttr(&a.req, r) {
		return nil, true
	}
	// An open write stream ends here: the setattr goes after its bytes.
	w.endStream()
	for w.err == nil && len(w.inflight) >= maxWritesInFlight {
		w.cond.Wait()
	}
	if w.err != nil {
		return nil, false
	}
	w.seq++
	if len(w.inflight) == 0 {
		set.add(f)
	}
	// It overlaps every byte, so a write queued after it waits for it.
	w.inflight = append(w.inflight, writeSpan{seq: w.seq, off: 0, end: math.MaxInt64})
	op = &attrOp{seq: w.seq, req: r}
	w.attr = op
	return op, true
}

// mergeAttr folds setattr r into the queued one q when the node, which
// sets owner, then mode, then times, gives the same result as the two
// one after the other: an owner change after a mode change (it clears
// setuid and setgid) is not merged.
func mergeAttr(q *sdk.SetattrRequest, r sdk.SetattrRequest) bool {
	if q.Valid&sdk.SetMode != 0 && r.Valid&(sdk.SetUID|sdk.SetGID) != 0 {
		return false
	}
	if r.Valid&sdk.SetMode != 0 {
		q.Mode = r.Mode
	}
	if r.Valid&sdk.SetUID != 0 {
		q.UID = r.UID
	}
	if r.Valid&sdk.SetGID != 0 {
		q.GID = r.GID
	}
	if r.Valid&sdk.SetAtime != 0 {
		q.Atime, q.AtimeNow = r.Atime, r.AtimeNow
	}
	if r.Valid&sdk.SetMtime != 0 {
		q.Mtime, q.MtimeNow = r.Mtime, r.MtimeNow
	}
	q.Valid |= r.Valid
	return true
}

// startAttr waits until every entry queued before op has ended, and
// for attrDelay or until something waits for op, then takes op's
// request (no setattr merges into it after).
func (w *writeBehind) startAttr(op *attrOp) sdk.SetattrRequest {
	t := time.AfterFunc(attrDelay, func() {
		w.lock()
		op.due = true
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer t.Stop()
	w.lock()
	defer w.mu.Unlock()
	for w.pendingUpTo(op.seq-1) || (!op.due && w.waiting == 0) {
		w.cond.Wait()
	}
	op.started = true
	if w.attr == op {
		w.attr = nil
	}
	return op.req
}

// pending tells whether the file has writes or setattrs on their way.
func (w *writeBehind) pending() bool {
	w.lock()
	defer w.mu.Unlock()
	return len(w.inflight) > 0
}

// lastQueued tells whether seq is the newest entry queued.
func (w *writeBehind) lastQueued(seq uint64) bool {
	w.lock()
	defer w.mu.Unlock()
	return w.seq == seq
}

// predicted is what a file's attributes will be once its queued writes
// and setattrs reached the node; ok while they are known (see
// deferAttr).
type predicted struct {
	fi sdk.FileInfo
	ok bool
}

// know records fi as the file's attributes (ok only for full
// information).
func (f *liveFile) know(fi sdk.FileInfo) {
	f.mu.Lock()
	f.pred = predicted{fi: fi, ok: fi.Full}
	f.mu.Unlock()
}

// forget drops the file's predicted attributes.
func (f *liveFile) forget() {
	f.mu.Lock()
	f.pred = predicted{}
	f.mu.Unlock()
}

// grew records a write of [off, end) queued at now.
func (f *liveFile) grew(end int64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.pred.ok {
		return
	}
	fi := &f.pred.fi
	if end > fi.Size {
		fi.Size = end
	}
	if b := (fi.Size + 4095) / 4096 * 8; b > fi.Blocks {
		fi.Blocks = b
	}
	fi.ModTime = now
	fi.Mtime, fi.Ctime = now.UnixNano(), now.UnixNano()
}

// predictedAttr is the file's predicted attributes while writes or
// setattrs of it are on their way and they are known.
func (f *liveFile) predictedAttr() (sdk.FileInfo, bool) {
	if !f.wb.pending() {
		return sdk.FileInfo{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pred.fi, f.pred.ok
}

// applyAttr is fi after setattr r made at now.
func applyAttr(fi sdk.FileInfo, r sdk.SetattrRequest, now time.Time) sdk.FileInfo {
	if r.Valid&sdk.SetMode != 0 {
		fi.Mode = uint32(os.FileMode(fi.Mode)&^preModeBits | modeOfUnix(r.Mode))
	}
	if r.Valid&sdk.SetUID != 0 {
		fi.UID = r.UID
	}
	if r.Valid&sdk.SetGID != 0 {
		fi.GID = r.GID
	}
	if r.Valid&sdk.SetAtime != 0 {
		fi.Atime = r.Atime
		if r.AtimeNow {
			fi.Atime = now.UnixNano()
		}
	}
	if r.Valid&sdk.SetMtime != 0 {
		fi.Mtime = r.Mtime
		if r.MtimeNow {
			fi.Mtime = now.UnixNano()
		}
		fi.ModTime = time.Unix(0, fi.Mtime)
	}
	fi.Ctime = now.UnixNano()
	return fi
}

// deferAttr queues setattr req of the open file f when it may be
// (see above) and answers it with the predicted attributes; false when
// it must be done at once.
func (f *liveFile) deferAttr(ctx context.Context, sc *sdk.Container, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) bool {
	v := req.Valid
	if v&^deferrable != 0 || v&(fuse.SetattrMode|fuse.SetattrUid|fuse.SetattrGid|fuse.SetattrAtime|fuse.SetattrMtime|fuse.SetattrAtimeNow|fuse.SetattrMtimeNow) == 0 {
		return false
	}
	f.mu.Lock()
	open, known := f.handles > 0, f.pred.ok
	f.mu.Unlock()
	if !open || !known {
		return false
	}
	c, p := f.v.c, f.path()
	sr := setattrOf(p, req)
	now := time.Now()
	// The prediction is updated under the pipeline's order: a setattr
	// merged or queued is applied to it before the next is.
	f.mu.Lock()
	op, ok := f.wb.queueAttr(&c.writing, f, sr)
	if !ok {
		f.mu.Unlock()
		return false
	}
	f.pred.fi = applyAttr(f.pred.fi, sr, now)
	fi := f.pred.fi
	f.mu.Unlock()
	c.wrote(p)
	infoAttr(&resp.Attr, fi)
	if op == nil {
		return true // merged into one on its way
	}
	countDeferred(ctx, "Setattr")
	timeout := timeoutOf(ctx)
	go func() {
		r := f.wb.startAttr(op)
		cctx, cancel := context.WithTimeout(context.Background(), timeout)
		got, err := sc.Setattr(cctx, r)
		cancel()
		// A stat racing the call keeps nothing (c.writes moved); the
		// node's answer is kept when nothing was queued after.
		c.wrote(p)
		if err != nil {
			err = c.fail(err)
		} else if f.wb.lastQueued(op.seq) {
			c.stats.put(p, got)
		}
		f.wb.done(&c.writing, f, op.seq, err)
		if err != nil {
			// After done: a write waiting for this setattr holds pages
			// of the file that the kernel's invalidation locks.
			f.forget()
			c.f.invalidateAttr(f)
		}
	}()
	return true
}

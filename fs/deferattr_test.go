package fs

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tffs/tffs/sdk"
)

func TestQueuedSetattrOrdersAndMerges(t *testing.T) {
	var (
		w   writeBehind
		set writingFiles
		f   = &liveFile{}
	)
	wr, _ := w.queue(&set, f, 0, 10)
	times, ok := w.queueAttr(&set, f, sdk.SetattrRequest{Valid: sdk.SetMtime, Mtime: 7})
	if !ok || times == nil {
		t.Fatal("a setattr was not queued")
	}
	// fchown then fchmod merge into the setattr not yet started.
	if op, ok := w.queueAttr(&set, f, sdk.SetattrRequest{Valid: sdk.SetUID | sdk.SetGID, UID: 1, GID: 2}); !ok || op != nil {
		t.Fatalf("an owner change did not merge: op %v ok %v", op, ok)
	}
	if op, ok := w.queueAttr(&set, f, sdk.SetattrRequest{Valid: sdk.SetMode, Mode: 0o4755}); !ok || op != nil {
		t.Fatalf("a mode change did not merge: op %v ok %v", op, ok)
	}
	// The setattr starts only once the write queued before it ended.
	started := make(chan sdk.SetattrRequest)
	go func() { started <- w.startAttr(times) }()
	select {
	case <-started:
		t.Fatal("a setattr started before the write queued before it ended")
	case <-time.After(50 * time.Millisecond):
	}
	w.done(&set, f, wr, nil)
	r := <-started
	want := sdk.SetattrRequest{Valid: sdk.SetMtime | sdk.SetUID | sdk.SetGID | sdk.SetMode, Mtime: 7, UID: 1, GID: 2, Mode: 0o4755}
	if r != want {
		t.Fatalf("merged setattr = %+v, want %+v", r, want)
	}
	// Once started, a setattr no longer merges; a write waits for it.
	next, ok := w.queueAttr(&set, f, sdk.SetattrRequest{Valid: sdk.SetMode, Mode: 0o600})
	if !ok || next == nil {
		t.Fatal("a setattr merged into one already on its way")
	}
	queued := make(chan struct{})
	go func() { _, _ = w.queue(&set, f, 100, 10); close(queued) }()
	select {
	case <-queued:
		t.Fatal("a write was queued before the setattr queued before it ended")
	case <-time.After(50 * time.Millisecond):
	}
	w.done(&set, f, times.seq, nil)
	_ = w.startAttr(next)
	w.done(&set, f, next.seq, nil)
	<-queued
}

func TestQueuedSetattrFailureReported(t *testing.T) {
	var (
		w   writeBehind
		set writingFiles
		f   = &liveFile{}
	)
	op, _ := w.queueAttr(&set, f, sdk.SetattrRequest{Valid: sdk.SetMode, Mode: 0o644})
	_ = w.startAttr(op)
	gone := errors.New("ENOENT")
	w.done(&set, f, op.seq, gone)
	w.barrier()
	// While the failure waits to be reported, a setattr is not queued (it
	// is done at once), and a write reports it.
	if _, ok := w.queueAttr(&set, f, sdk.SetattrRequest{Valid: sdk.SetMode, Mode: 0o600}); ok {
		t.Fatal("a setattr was queued behind an unreported failure")
	}
	if _, err := w.queue(&set, f, 0, 1); !errors.Is(err, gone) {
		t.Fatalf("a write after a failed setattr = %v, want its failure", err)
	}
	if err := w.takeErr(); !errors.Is(err, gone) {
		t.Fatalf("flush after a failed setattr = %v, want its failure", err)
	}
	if len(set.m) != 0 {
		t.Fatal("the file is still among the writing files")
	}
}

func TestMergeAttrKeepsTheNodesOrder(t *testing.T) {
	q := sdk.SetattrRequest{Valid: sdk.SetMode, Mode: 0o4755}
	if mergeAttr(&q, sdk.SetattrRequest{Valid: sdk.SetUID, UID: 5}) {
		t.Fatal("an owner change (which clears setuid) merged after a mode change")
	}
	if !mergeAttr(&q, sdk.SetattrRequest{Valid: sdk.SetAtime, AtimeNow: true}) || q.Valid != sdk.SetMode|sdk.SetAtime || !q.AtimeNow {
		t.Fatalf("times did not merge after a mode change: %+v", q)
	}
}

func TestApplyAttrPredicts(t *testing.T) {
	now := time.Unix(1000, 0)
	fi := sdk.FileInfo{Mode: 0o600, Size: 5, UID: 1, GID: 1, Full: true}
	got := applyAttr(fi, sdk.SetattrRequest{Valid: sdk.SetMode | sdk.SetUID | sdk.SetMtime | sdk.SetAtime,
		Mode: 0o4755, UID: 7, Mtime: 42, AtimeNow: true}, now)
	if os.FileMode(got.Mode) != os.ModeSetuid|0o755 || got.UID != 7 || got.GID != 1 || got.Size != 5 {
		t.Fatalf("predicted %+v", got)
	}
	if got.Mtime != 42 || !got.ModTime.Equal(time.Unix(0, 42)) || got.Atime != now.UnixNano() || got.Ctime != now.UnixNano() {
		t.Fatalf("predicted times %+v", got)
	}
	f := &liveFile{}
	f.know(got)
	f.grew(9000, now)
	if f.pred.fi.Size != 9000 || f.pred.fi.Blocks != 24 || f.pred.fi.Mtime != now.UnixNano() {
		t.Fatalf("after a write: %+v", f.pred.fi)
	}
}

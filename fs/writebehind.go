package fs

import (
	"sync"
)

// Writes to a started container's regular file are pipelined: write(2)
// returns once its bytes are queued for the node, with at most
// maxWritesInFlight writes of a file on the way at once. What that
// promises:
//   - close(2) (flush) and fsync(2) wait for every write queued before
//     them and report the first that failed (EIO, ENOSPC, EDQUOT… as the
//     node gave it); a later write(2) reports it too;
//   - a read, rename, remove or link made through this mount waits for
//     the writes queued before it, so this mount never shows a file older
//     than its own writes; a stat or setattr does too, unless the file's
//     attributes are known: then a stat answers them predicted and a
//     chmod, chown or utimes is queued like a write (deferattr.go);
//   - writes whose ranges overlap go one after the other, in order;
//   - O_APPEND writes go one at a time and synchronously, the node
//     choosing the offset.
//
// A process in the container sees a write once it reached the node.

// maxWritesInFlight bounds a file's queued writes (each up to
// sdk.MaxIOSize: 4 MiB a file at most).
const maxWritesInFlight = 8

// writeSpan is one queued write: bytes [off, end) of the file.
type writeSpan struct {
	seq      uint64
	off, end int64
}

// writeBehind is the queue of one file's writes on their way to the node.
type writeBehind struct {
	mu       sync.Mutex
	cond     sync.Cond
	seq      uint64 // of the last write queued
	inflight []writeSpan
	err      error   // the first failure not yet reported by flush or fsync
	attr     *attrOp // the newest queued setattr, while it has not started (deferattr.go)
	waiting  int     // callers waiting for queued entries to end (a queued setattr then starts at once)

	stream  *fileStream // the open write stream (writestream.go), or nil
	lastEnd int64       // where the last write queued ended, when hasLast
	hasLast bool
}

func (w *writeBehind) lock() {
	w.mu.Lock()
	if w.cond.L == nil {
		w.cond.L = &w.mu
	}
}

// queue waits for room and for the writes that overlap [off, off+n) and
// records the new write of file f (entering it in set, its container's
// writing files); it fails instead with a failure of an earlier write.
func (w *writeBehind) queue(set *writingFiles, f *liveFile, off int64, n int) (seq uint64, err error) {
	w.lock()
	defer w.mu.Unlock()
	end := off + int64(n)
	w.waiting++
	w.cond.Broadcast() // a setattr queued starts now
	for w.err == nil && (len(w.inflight) >= maxWritesInFlight || w.overlaps(off, end)) {
		w.cond.Wait()
	}
	w.waiting--
	if w.err != nil {
		return 0, w.err
	}
	w.seq++
	if len(w.inflight) == 0 {
		set.add(f)
	}
	w.inflight = append(w.inflight, writeSpan{seq: w.seq, off: off, end: end})
	w.lastEnd, w.hasLast = end, true
	return w.seq, nil
}

func (w *writeBehind) overlaps(off, end int64) bool {
	for _, s := range w.inflight {
		if off < s.end && s.off < end {
			return true
		}
	}
	return false
}

// done records the end of write seq of file f (err when it failed); the
// file leaves set when it has no write in flight any more.
func (w *writeBehind) done(set *writingFiles, f *liveFile, seq uint64, err error) {
	w.lock()
	defer w.mu.Unlock()
	for i, s := range w.inflight {
		if s.seq == seq {
			w.inflight = append(w.inflight[:i], w.inflight[i+1:]...)
			break
		}
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	if len(w.inflight) == 0 {
		set.remove(f)
	}
	w.cond.Broadcast()
}

// barrier ends the open write stream and waits until every write queued
// before it has ended. Writes
// queued meanwhile are not waited for, so a steady writer cannot starve
// it.
func (w *writeBehind) barrier() {
	w.lock()
	defer w.mu.Unlock()
	w.endStream()
	target := w.seq
	w.waiting++
	w.cond.Broadcast() // a setattr queued starts now
	for w.pendingUpTo(target) {
		w.cond.Wait()
	}
	w.waiting--
}

func (w *writeBehind) pendingUpTo(target uint64) bool {
	for _, s := range w.inflight {
		if s.seq <= target {
			return true
		}
	}
	return false
}

// takeErr returns the failure of a write not yet reported by a flush or
// fsync, and forgets it.
func (w *writeBehind) takeErr() error {
	w.lock()
	defer w.mu.Unlock()
	err := w.err
	w.err = nil
	return err
}

// writingFiles are a container's files with writes in flight, so that a
// rename, remove, link or setattr anywhere in the container waits for
// them first (a queued write names its file by path). A file enters and
// leaves it under its writeBehind's lock.
type writingFiles struct {
	mu sync.Mutex
	m  map[*liveFile]struct{}
}

func (s *writingFiles) add(f *liveFile) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[*liveFile]struct{}{}
	}
	s.m[f] = struct{}{}
	s.mu.Unlock()
}

func (s *writingFiles) remove(f *liveFile) {
	s.mu.Lock()
	delete(s.m, f)
	s.mu.Unlock()
}

// barrier waits for the writes queued before it in every file.
func (s *writingFiles) barrier() {
	s.mu.Lock()
	files := make([]*liveFile, 0, len(s.m))
	for f := range s.m {
		files = append(files, f)
	}
	s.mu.Unlock()
	for _, f := range files {
		f.wb.barrier()
	}
}

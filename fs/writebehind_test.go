package fs

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestWriteBehindBoundsAndOrders(t *testing.T) {
	var (
		w   writeBehind
		set writingFiles
		f   = &liveFile{}
	)
	seqs := make([]uint64, 0, maxWritesInFlight)
	for i := range maxWritesInFlight {
		seq, err := w.queue(&set, f, int64(i)*10, 10)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if len(set.m) != 1 {
		t.Fatalf("writing files = %d, want 1", len(set.m))
	}
	// A ninth write waits for room; an overlapping one for the write it overlaps.
	queued := make(chan uint64)
	go func() {
		seq, _ := w.queue(&set, f, 5, 10) // overlaps writes 0 and 1
		queued <- seq
	}()
	select {
	case <-queued:
		t.Fatal("a write was queued past the bound")
	case <-time.After(50 * time.Millisecond):
	}
	w.done(&set, f, seqs[7], nil) // room, but still overlapping 0 and 1
	select {
	case <-queued:
		t.Fatal("an overlapping write was queued before the one it overlaps ended")
	case <-time.After(50 * time.Millisecond):
	}
	w.done(&set, f, seqs[0], nil)
	w.done(&set, f, seqs[1], nil)
	last := <-queued
	for _, s := range seqs[2:7] {
		w.done(&set, f, s, nil)
	}
	w.done(&set, f, last, nil)
	if len(set.m) != 0 {
		t.Fatalf("writing files = %d after every write ended, want 0", len(set.m))
	}
}

func TestWriteBehindBarrierAndError(t *testing.T) {
	var (
		w   writeBehind
		set writingFiles
		f   = &liveFile{}
	)
	a, _ := w.queue(&set, f, 0, 10)
	barrierDone := make(chan struct{})
	go func() { w.barrier(); close(barrierDone) }()
	time.Sleep(20 * time.Millisecond)
	b, _ := w.queue(&set, f, 10, 10) // queued after the barrier began: not waited for
	boom := errors.New("boom")
	w.done(&set, f, a, boom)
	<-barrierDone
	if _, err := w.queue(&set, f, 20, 10); !errors.Is(err, boom) {
		t.Fatalf("a write after a failure = %v, want the failure", err)
	}
	w.done(&set, f, b, nil)
	if err := w.takeErr(); !errors.Is(err, boom) {
		t.Fatalf("takeErr = %v, want boom", err)
	}
	if err := w.takeErr(); err != nil {
		t.Fatalf("a failure was reported twice: %v", err)
	}
}

func TestWritingFilesBarrierWaitsEveryFile(t *testing.T) {
	var set writingFiles
	files := []*liveFile{{}, {}, {}}
	var seqs []uint64
	for _, f := range files {
		seq, _ := f.wb.queue(&set, f, 0, 1)
		seqs = append(seqs, seq)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	ended := make(chan struct{})
	go func() { defer wg.Done(); set.barrier(); close(ended) }()
	for i, f := range files {
		select {
		case <-ended:
			t.Fatalf("barrier ended with %d files still writing", len(files)-i)
		case <-time.After(20 * time.Millisecond):
		}
		f.wb.done(&set, f, seqs[i], nil)
	}
	wg.Wait()
}

package lifecycle

import (
	"errors"
	"testing"
)

func TestCloseBeforeStartReleases(t *testing.T) {
	var l Lifecycle
	released := 0
	want := errors.New("release failed")
	rel := func() error { released++; return want }
	if err := l.Close(rel); !errors.Is(err, want) {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(rel); !errors.Is(err, want) || released != 1 {
		t.Fatalf("second Close: %v, released %d times", err, released)
	}
	if l.Start() {
		t.Fatal("Start after Close")
	}
	if !errors.Is(l.Err(), want) {
		t.Fatalf("Err: %v", l.Err())
	}
}

func TestCloseWaitsForRun(t *testing.T) {
	var l Lifecycle
	if !l.Start() || l.Start() {
		t.Fatal("Start must succeed once")
	}
	if l.Err() != nil {
		t.Fatal("Err before the end")
	}
	want := errors.New("run failed")
	go func() {
		<-l.Quit()
		l.Finish(want)
	}()
	if err := l.Close(func() error { t.Fatal("release of a started daemon"); return nil }); !errors.Is(err, want) {
		t.Fatalf("Close: %v", err)
	}
	<-l.Done()
}

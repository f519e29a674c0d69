package location

import (
	"errors"
	"sync"
	"testing"
)

// A daemon's result is seen by every waiter, however many read it: the
// command's select on NodeDone and Stop both get it (Stop used to hang).
func TestResultHasManyReaders(t *testing.T) {
	r := newResult()
	want := errors.New("node died")
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.wait(); err != want {
				t.Errorf("wait = %v, want %v", err, want)
			}
		}()
	}
	r.set(want)
	wg.Wait()
	<-r.done
	if r.wait() != want {
		t.Fatal("a late reader lost the result")
	}
}

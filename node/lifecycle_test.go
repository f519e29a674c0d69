package node

import (
	"context"
	"errors"
	"testing"

	"github.com/tffs/tffs/protocol"
)

// A node that never ran is closed at once, any number of times, and
// cannot be run afterwards.
func TestCloseWithoutRun(t *testing.T) {
	n, err := New(Config{Name: "n1", Dir: t.TempDir(), Master: "tcp://127.0.0.1:1", MasterKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := n.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
	}
	select {
	case <-n.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := n.Run(context.Background()); !errors.Is(err, protocol.ErrBusy) {
		t.Fatalf("Run after Close = %v, want ErrBusy", err)
	}
}

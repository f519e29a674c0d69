package node

import (
	"context"

	"github.com/tffs/tffs/node/runtime"
)

// goProbe checks, off the loop, that an outside containerd (one the node
// does not own, so cannot watch as a process) still answers. Losing it and
// getting it back are logged once each: meanwhile spawns and file calls
// fail with containerd's error, and the node serves on, so a containerd
// restarted by its supervisor is used again.
func (n *Node) goProbe(ctx context.Context, sock string) {
	if !n.probing.CompareAndSwap(false, true) {
		return // the last probe is still waiting
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.probing.Store(false)
		err := runtime.Probe(ctx, sock)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !n.ctrdDown.Swap(true):
			n.log.Error("containerd does not answer: containers cannot be managed until it is back", "socket", sock, "err", err)
		case err == nil && n.ctrdDown.Swap(false):
			n.log.Warn("containerd answers again", "socket", sock)
		}
	}()
}

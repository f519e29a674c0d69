package sdk

import (
	"context"
	"fmt"
	"time"

	"github.com/tffs/tffs/protocol"
)

// resyncTimeout bounds the listing that follows a link reset.
const resyncTimeout = 30 * time.Second

// linkReset runs when the transport declared the link to the master broken
// (see the protocol package doc): messages in flight may be lost, so every
// open call, stream and process fails with ErrUnavailable, and the
// containers' exits are read again from the master, so no Wait waits for a
// lost event.
func (l *Location) linkReset(why *protocol.Error) {
	var cause error = ErrUnavailable
	if why != nil {
		cause = why
	}
	err := fmt.Errorf("connection to the master reset: %w", cause)
	l.calls.FailAll(err)
	l.streams.FailAll(err)
	// A process's exit may have been lost and cannot be read again:
	// its Wait fails with ErrUnavailable.
	for _, c := range l.Containers() {
		c.mu.Lock()
		procs := c.procs
		c.procs = map[string]*Process{}
		c.mu.Unlock()
		for _, p := range procs {
			p.finish(-1)
		}
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.resync()
	}()
}

// resync applies the master's view of this session's containers: exits
// that happened and containers that are gone.
func (l *Location) resync() {
	ctx, cancel := context.WithTimeout(context.Background(), resyncTimeout)
	defer cancel()
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	list, err := l.ListContainers(ctx)
	if err != nil {
		l.log.Debug("resync after a link reset failed", "err", err)
		return
	}
	known := map[string]protocol.ContainerInfo{}
	for _, ci := range list {
		known[ci.ID] = ci
	}
	for _, c := range l.Containers() {
		ci, ok := known[c.ID]
		switch {
		case !ok:
			c.gone("lost while the connection to the master was reset")
		case ci.Exited:
			c.exitEvent(0, ci.Exit)
		}
	}
}

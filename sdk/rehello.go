package sdk

import (
	"context"
	"fmt"
	"time"

	"github.com/tffs/tffs/protocol"
)

// A master names its incarnation in every heartbeat answer and offer; it
// changes each time the master starts. The master keeps sessions and
// containers across a restart, so when the incarnation changes the
// location says hello again under the same session name and takes up its
// session: calls in flight at the restart fail with ErrUnavailable (their
// replies are lost), and the containers the master no longer holds (the
// session was collected, or the node lost them) are marked gone. A
// heartbeat answer saying the master holds no session under this name (it
// was collected while the client was cut off) starts the same hello.

// rehelloTimeout bounds the hello (and list) after a master restart.
const rehelloTimeout = 30 * time.Second

// sawMaster notes the master incarnation of a pong or offer and starts a
// hello again when it changed, or when the master no longer holds the
// session (noSession: it was collected while this client was cut off).
func (l *Location) sawMaster(inc string, noSession bool) {
	if inc == "" {
		return
	}
	l.mu.Lock()
	changed := l.master != "" && (l.master != inc || noSession) && !l.closed && !l.rehelloing
	if changed {
		l.rehelloing = true
	}
	l.mu.Unlock()
	if !changed {
		return
	}
	l.log.Info("the master restarted or lost the session: saying hello again", "session", l.session)
	l.calls.FailAll(fmt.Errorf("the master restarted or lost the session: %w", ErrUnavailable))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := l.rehello()
		l.mu.Lock()
		l.rehelloing = false
		l.mu.Unlock()
		if err != nil {
			l.log.Warn("hello after a master restart failed", "err", err)
			l.mu.Lock()
			l.master = "" // the next pong tries again
			l.mu.Unlock()
		}
	}()
}

// rehello says hello again and settles the session's containers with the
// master's list.
func (l *Location) rehello() error {
	ctx, cancel := context.WithTimeout(context.Background(), rehelloTimeout)
	defer cancel()
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var offer protocol.Offer
	if err := l.call(ctx, protocol.OpHello, protocol.HelloRequest{Client: "tffs-sdk"}, &offer, ""); err != nil {
		return err
	}
	l.mu.Lock()
	l.offer, l.master = offer, offer.Master
	l.mu.Unlock()
	list, err := l.ListContainers(ctx)
	if err != nil {
		return err
	}
	held := make(map[string]protocol.ContainerInfo, len(list))
	for _, info := range list {
		held[info.ID] = info
	}
	for _, c := range l.Containers() {
		info, ok := held[c.ID]
		if !ok {
			reason := "lost while the master restarted"
			c.gone(reason)
			if f := l.cfg.onGoneCtr; f != nil {
				l.callback(func() { f(c, reason) })
			}
			continue
		}
		if info.Exited {
			c.exitEvent(info.Boot, info.Exit) // its exit event may have been lost
		}
	}
	return nil
}

package network

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"

	"github.com/vishvananda/netns"
)

// DialTCP connects to port on the loopback of the network namespace at
// nsPath: the socket is made inside that namespace (on a thread switched
// into it and back), so the connection reaches what listens in the
// container, whatever its firewall.
func DialTCP(ctx context.Context, nsPath string, port int) (net.Conn, error) {
	return inNS(nsPath, func() (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	})
}

// inNS runs f on a thread switched into the namespace at nsPath.
func inNS[T any](nsPath string, f func() (T, error)) (T, error) {
	var zero T
	target, err := getNS(nsPath)
	if err != nil {
		return zero, err
	}
	defer target.Close()
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return zero, fmt.Errorf("network: current netns: %w", err)
	}
	defer origin.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return zero, fmt.Errorf("network: enter netns: %w", err)
	}
	v, ferr := f()
	if err := netns.Set(origin); err != nil {
		// The thread stays locked in the wrong namespace: the Go runtime
		// ends it with this goroutine.
		if c, ok := any(v).(interface{ Close() error }); ok && ferr == nil {
			c.Close()
		}
		return zero, fmt.Errorf("network: leave netns: %w", err)
	}
	runtime.UnlockOSThread()
	return v, ferr
}

package fs

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"bazil.org/fuse"
)

// opCounts counts the FUSE requests a mount served, by kind, and the
// location calls made while serving them (each a round trip to the
// master and often a node): what a tool costs through the mount.
type opCounts struct {
	mu    sync.Mutex
	ops   map[string]*atomic.Int64
	calls atomic.Int64
}

// callsKey is the name Counts gives the location calls.
const callsKey = "calls"

// op counts one request and returns its kind.
func (o *opCounts) op(req fuse.Request) string {
	t := reflect.TypeOf(req)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := strings.TrimSuffix(t.Name(), "Request")
	o.add(name)
	return name
}

func (o *opCounts) add(name string) {
	o.mu.Lock()
	if o.ops == nil {
		o.ops = map[string]*atomic.Int64{}
	}
	n := o.ops[name]
	if n == nil {
		n = new(atomic.Int64)
		o.ops[name] = n
	}
	o.mu.Unlock()
	n.Add(1)
}

// snapshot is the counts so far: requests by kind (Lookup, Getattr, …)
// and the location calls under callsKey.
func (o *opCounts) snapshot() map[string]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int64, len(o.ops)+1)
	for k, n := range o.ops {
		out[k] = n.Load()
	}
	out[callsKey] = o.calls.Load()
	return out
}

// Counts is how many FUSE requests of each kind the mount has served
// (keys such as "Lookup", "Getattr", "Write") and, under "calls", how
// many location calls serving them made ("calls.Lookup": those made for
// lookups) and, under "deferred.Setattr" and the like, the calls a
// request queued without waiting for them (not in "calls"). Benchmarks
// and diagnostics read it; it costs an atomic add per request.
func (m *Mounted) Counts() map[string]int64 { return m.fsys.ops.snapshot() }

// countsKey carries the mount's counts and the request's kind in each
// request's context.
type countsKey struct{}

type countsCtx struct {
	o    *opCounts
	kind string
}

// countCall counts a location call made for a request of ctx, in all and
// by the request's kind ("calls.Lookup").
func countCall(ctx context.Context) {
	if c, ok := ctx.Value(countsKey{}).(countsCtx); ok {
		c.o.calls.Add(1)
		c.o.add(callsKey + "." + c.kind)
	}
}

// deferredKey prefixes the count of location calls a request queued
// rather than waited for ("deferred.Setattr"); they are not in "calls".
const deferredKey = "deferred"

// countDeferred counts a location call of kind queued for a request of
// ctx and not waited for.
func countDeferred(ctx context.Context, kind string) {
	if c, ok := ctx.Value(countsKey{}).(countsCtx); ok {
		c.o.add(deferredKey + "." + kind)
	}
}

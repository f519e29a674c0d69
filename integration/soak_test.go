package integration

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/sdk"
)

// Soak parameters. The hang bound is the longest any one operation may take
// before the test fails with a goroutine dump; operations themselves carry
// a shorter deadline (opDeadline), so a call that honours its context never
// reaches the hang bound.
const (
	soakSessions  = 3
	opDeadline    = 30 * time.Second
	hangBound     = 60 * time.Second
	maxPutSize    = 4 << 20
	goroutineSlop = 40 // goroutines allowed above the quiet baseline (timers, pooled zmq/cgo helpers)
	heapSlop      = 20 << 20
)

// soakDuration is TFFS_SOAK (a Go duration), 60 s by default.
func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv("TFFS_SOAK")
	if s == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("TFFS_SOAK=%q: want a positive Go duration such as 10m", s)
	}
	return d
}

// soakStats counts operations by kind and outcome.
type soakStats struct {
	mu     sync.Mutex
	counts map[string]int
	slow   []string // operations that took over slowOp
}

// slowOp is the duration past which an operation is listed in the report.
const slowOp = 10 * time.Second

func (s *soakStats) took(worker, op string, d time.Duration) {
	if d < slowOp {
		return
	}
	s.mu.Lock()
	s.slow = append(s.slow, fmt.Sprintf("%s %s %v", worker, op, d.Round(100*time.Millisecond)))
	s.mu.Unlock()
}

func (s *soakStats) add(op, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[op+" "+outcome]++
}

func (s *soakStats) report() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.counts))
	total := 0
	for k, n := range s.counts {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-28s %d\n", k, s.counts[k])
	}
	if len(s.slow) > 0 {
		fmt.Fprintf(&b, "  slower than %v: %s\n", slowOp, strings.Join(s.slow, ", "))
	}
	return b.String(), total
}

// watchdog fails the soak when an operation runs past the hang bound.
type watchdog struct {
	mu      sync.Mutex
	running map[string]time.Time // worker → start of its current operation
	what    map[string]string
	hung    chan string
	once    sync.Once
}

func newWatchdog() *watchdog {
	return &watchdog{running: map[string]time.Time{}, what: map[string]string{}, hung: make(chan string, 1)}
}

func (w *watchdog) begin(worker, op string) {
	w.mu.Lock()
	w.running[worker] = time.Now()
	w.what[worker] = op
	w.mu.Unlock()
}

func (w *watchdog) end(worker string) {
	w.mu.Lock()
	delete(w.running, worker)
	w.mu.Unlock()
}

func (w *watchdog) watch(stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		w.mu.Lock()
		for worker, since := range w.running {
			if time.Since(since) > hangBound {
				msg := fmt.Sprintf("%s: %s still running after %v", worker, w.what[worker], time.Since(since).Round(time.Second))
				w.once.Do(func() { w.hung <- msg })
			}
		}
		w.mu.Unlock()
	}
}

// goroutineDump writes every goroutine's stack to a file and returns its path.
func goroutineDump(t *testing.T) string {
	f, err := os.CreateTemp("", "tffs-soak-goroutines-*.txt")
	if err != nil {
		return "(dump failed: " + err.Error() + ")"
	}
	defer f.Close()
	pprof.Lookup("goroutine").WriteTo(f, 2)
	return f.Name()
}

// resources is one sample of the test process (master and node run in it).
type resources struct {
	goroutines int
	heap       uint64
}

func sample() resources {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return resources{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc}
}

func (r resources) String() string {
	return fmt.Sprintf("%d goroutines, heap %.1f MiB", r.goroutines, float64(r.heap)/(1<<20))
}

// acceptable reports whether err is a failure a fault may cause: the
// location was unreachable, or the operation's deadline passed.
func acceptable(err error) bool {
	return errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, sdk.ErrTimeout)
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, sdk.ErrUnavailable):
		return "ErrUnavailable"
	case errors.Is(err, sdk.ErrTimeout):
		return "ErrTimeout"
	}
	return "other"
}

// startRandomCuts cuts one of the proxies, chosen at random, for 0.1–3 s
// every 1–5 s (all shorter than protocol.LinkTimeout), until stopped.
func startRandomCuts(rng *mrand.Rand, stats *soakStats, proxies []*flakyProxy, names []string) *cutter {
	c := &cutter{stop: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			gap := time.Second + time.Duration(rng.Int63n(int64(4*time.Second)))
			d := 100*time.Millisecond + time.Duration(rng.Int63n(int64(2900*time.Millisecond)))
			i := rng.Intn(len(proxies))
			select {
			case <-c.stop:
				return
			case <-time.After(gap):
			}
			proxies[i].cut(d)
			stats.add("cut", names[i])
			select {
			case <-c.stop:
				return
			case <-time.After(d):
			}
		}
	}()
	return c
}

// A soak: several SDK sessions and a FUSE mount, all connected through a
// proxy that cuts the client↔master and master↔node links for 0.1–3 s every
// few seconds, do random spawns, runs, puts, fetches and destroys for
// TFFS_SOAK (60 s by default; `make soak` runs 10 minutes). Every operation
// succeeds with the right bytes or fails with ErrUnavailable/ErrTimeout
// (EIO on the mount); none runs past the hang bound. Afterwards nothing is
// left in containerd or as a network namespace, and the test process (which
// holds the master and the node) is back to its goroutine count within
// goroutineSlop and its heap within 2× + 20 MiB of the quiet baseline taken
// before the load (the bound leaves room for caches and pools that grow once
// and stay, such as zmq buffers and the runtime's own, while catching a leak
// per operation: a 60 s run moves several hundred MB).
func TestSoak(t *testing.T) {
	requireFUSE(t)
	dur := soakDuration(t)
	seed := time.Now().UnixNano()
	if s := os.Getenv("TFFS_SOAK_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("soak for %v, seed %d (TFFS_SOAK_SEED=%d repeats the choices)", dur, seed, seed)

	before := sample()
	var nodeProxy *flakyProxy
	env := testenv.Start(t, testenv.SessionTimeout(2*time.Minute), testenv.NodeConfig(func(c *node.Config) {
		nodeProxy = newFlakyProxy(t, c.Master)
		c.Master = nodeProxy.addr()
	}))
	clientProxy := newFlakyProxy(t, env.Loc.Config.Master)
	bare := sample()
	connect := func() *sdk.Location {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		loc, err := sdk.Connect(ctx, sdk.WithDir(env.ClientDir), sdk.WithMaster(clientProxy.addr(), env.Loc.Config.MasterKey),
			sdk.WithHeartbeat(500*time.Millisecond))
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		return loc
	}
	sessions := make([]*sdk.Location, soakSessions)
	for i := range sessions {
		sessions[i] = connect()
	}
	mnt := t.TempDir()
	mloc := connect()
	m, err := tffsfs.Mount(context.Background(), mloc, mnt, testenv.Logger(t), tffsfs.CallTimeout(20*time.Second))
	if err != nil {
		mloc.Close()
		t.Fatal(err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			m.Unmount()
		}
		for _, s := range sessions {
			s.Close()
		}
	})
	// One warm-up round trip on every session and the mount, so that the
	// baseline includes the goroutines a live session keeps.
	for _, s := range sessions {
		if _, err := s.ListContainers(testenv.Ctx(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.ReadDir(mnt + "/nodes/any"); err != nil {
		t.Fatal(err)
	}
	quiet := sample()
	t.Logf("resources: before the location %v; location up %v; quiet with %d sessions and the mount %v", before, bare, soakSessions, quiet)

	stats := &soakStats{}
	wd := newWatchdog()
	stopWatch := make(chan struct{})
	go wd.watch(stopWatch)
	defer close(stopWatch)

	rng := mrand.New(mrand.NewSource(seed))
	cuts := startRandomCuts(mrand.New(mrand.NewSource(rng.Int63())), stats,
		[]*flakyProxy{clientProxy, nodeProxy}, []string{"client-master", "master-node"})
	deadline := time.Now().Add(dur)
	start := time.Now()

	fail := make(chan string, soakSessions+1)
	var wg sync.WaitGroup
	for i, s := range sessions {
		w := &sdkWorker{name: fmt.Sprintf("session%d", i), loc: s, rng: mrand.New(mrand.NewSource(rng.Int63())),
			stats: stats, wd: wd}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if msg := w.loop(deadline); msg != "" {
				fail <- msg
			}
		}()
	}
	mw := &mountWorker{name: "mount", dir: mnt + "/nodes/any", rng: mrand.New(mrand.NewSource(rng.Int63())),
		stats: stats, wd: wd, tmp: t.TempDir()}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if msg := mw.loop(deadline); msg != "" {
			fail <- msg
		}
	}()

	// Resource samples during the first and last 10 s of the load.
	var early, late []resources
	sampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-tick.C:
			}
			el := time.Since(start)
			if el < 10*time.Second {
				early = append(early, sample())
			} else if time.Until(deadline) < 10*time.Second {
				late = append(late, sample())
			}
		}
	}()

	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	var failures []string
wait:
	for {
		select {
		case msg := <-fail:
			failures = append(failures, msg)
		case msg := <-wd.hung:
			cuts.end()
			t.Fatalf("hang: %s; goroutines dumped to %s", msg, goroutineDump(t))
		case <-allDone:
			break wait
		}
	}
	for len(fail) > 0 {
		failures = append(failures, <-fail)
	}
	cuts.end()
	close(sampling)
	sampler.Wait()
	elapsed := time.Since(start)
	rep, total := stats.report()
	t.Logf("%d operations in %v (%.1f/s), by kind and outcome:\n%s", total, elapsed.Round(time.Second),
		float64(total)/elapsed.Seconds(), rep)
	t.Logf("resources in the first 10 s: %v; in the last 10 s: %v", early, late)
	if len(failures) > 0 {
		t.Fatalf("soak failures:\n%s", strings.Join(failures, "\n"))
	}

	// Settled: the workers destroyed their containers; the live sessions and
	// the mount are back to the quiet baseline.
	settled := settle(t, quiet.goroutines+goroutineSlop, "after the load, sessions still open")
	t.Logf("resources after the load, sessions still open: %v (quiet baseline %v)", settled, quiet)
	if settled.heap > 2*quiet.heap+heapSlop {
		t.Errorf("heap grew from %.1f MiB to %.1f MiB (bound 2× + 20 MiB)", float64(quiet.heap)/(1<<20), float64(settled.heap)/(1<<20))
	}

	// Close everything: containerd empty, no network namespace left.
	for _, s := range sessions {
		s.Close()
	}
	if err := m.Unmount(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	unmounted = true
	testenv.Eventually(t, 60*time.Second, "containerd empty after the sessions", func() bool {
		st := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace())
		return st.Containers == 0 && st.Tasks == 0 && st.Snapshots == 0 && st.Leases == 0
	})
	testenv.Eventually(t, 30*time.Second, "no network namespace left", func() bool {
		return testenv.NetnsCount(env.Namespace()+"+") == 0
	})
	closed := settle(t, bare.goroutines+goroutineSlop, "after closing the sessions and unmounting")
	t.Logf("resources after closing the sessions and unmounting: %v", closed)
}

// settle waits up to a minute for the goroutines to fall to max; if they do
// not, it fails the test with the goroutines grouped by stack.
func settle(t *testing.T, max int, when string) resources {
	t.Helper()
	var r resources
	for end := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		r = sample()
		if r.goroutines <= max {
			return r
		}
		if time.Now().After(end) {
			break
		}
	}
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	var groups []string
	for _, g := range strings.Split(b.String(), "\n\n") {
		if lines := strings.Split(g, "\n"); len(lines) > 2 {
			groups = append(groups, lines[0]+" "+strings.Join(strings.Fields(lines[2]), " "))
		}
	}
	t.Fatalf("%s: %d goroutines, want at most %d; dump in %s; groups:\n%s", when, r.goroutines, max,
		goroutineDump(t), strings.Join(groups, "\n"))
	return r
}

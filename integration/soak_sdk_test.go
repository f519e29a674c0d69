package integration

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand"
	"sort"
	"time"

	"github.com/tffs/tffs/sdk"
)

// sdkWorker is one SDK session of the soak doing random operations.
type sdkWorker struct {
	name  string
	loc   *sdk.Location
	rng   *mrand.Rand
	stats *soakStats
	wd    *watchdog
	ctrs  []*soakCtr
	seq   int
}

// soakCtr is a container of a worker and what its files may hold: for each
// path the set of sha256 sums it may have ("" = absent) — one after a put
// that succeeded, old or new after one that failed.
type soakCtr struct {
	c      *sdk.Container
	files  map[string]map[string]bool
	doomed bool // a destroy failed: it may be gone already
}

const maxCtrsPerSession = 3

// loop runs random operations until the deadline, then destroys what it
// made. It returns a description of the first wrong result, or "".
func (w *sdkWorker) loop(deadline time.Time) string {
	for time.Now().Before(deadline) {
		if msg := w.step(); msg != "" {
			return msg
		}
	}
	// Tidy up with the cuts over: every container is destroyed.
	for _, c := range w.ctrs {
		var err error
		for try := 0; try < 5; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), opDeadline)
			w.wd.begin(w.name, "final destroy")
			err = c.c.Destroy(ctx)
			w.wd.end(w.name)
			cancel()
			if err == nil || (errors.Is(err, sdk.ErrNotFound) && c.doomed) || !acceptable(err) {
				break
			}
		}
		if err != nil && !(errors.Is(err, sdk.ErrNotFound) && c.doomed) {
			return fmt.Sprintf("%s: final destroy: %v", w.name, err)
		}
	}
	w.ctrs = nil
	return ""
}

func (w *sdkWorker) step() string {
	live := w.live()
	var op string
	switch r := w.rng.Intn(100); {
	case len(live) == 0 || (r < 12 && len(w.ctrs) < maxCtrsPerSession):
		op = "spawn"
	case r < 20:
		op = "destroy"
	case r < 50:
		op = "run"
	case r < 75:
		op = "put"
	default:
		op = "fetch"
	}
	ctx, cancel := context.WithTimeout(context.Background(), opDeadline)
	defer cancel()
	w.wd.begin(w.name, op)
	defer w.wd.end(w.name)
	began := time.Now()
	defer func() { w.stats.took(w.name, op, time.Since(began)) }()
	var c *soakCtr
	if len(live) > 0 {
		c = live[w.rng.Intn(len(live))]
	}
	w.seq++
	var err error
	var bad string
	switch op {
	case "spawn":
		var ctr *sdk.Container
		ctr, err = w.loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
		if err == nil {
			w.ctrs = append(w.ctrs, &soakCtr{c: ctr, files: map[string]map[string]bool{}})
		}
	case "destroy":
		err = c.c.Destroy(ctx)
		if err == nil {
			w.remove(c)
		} else if acceptable(err) {
			c.doomed = true
		}
	case "run":
		token := fmt.Sprintf("%s-%d", w.name, w.seq)
		var out []byte
		var code int
		out, code, err = c.c.Run(ctx, "echo", token)
		if err == nil && (code != 0 || string(out) != token+"\n") {
			bad = fmt.Sprintf("run echo %s: exit %d, output %q", token, code, out)
		}
	case "put":
		path := fmt.Sprintf("/tmp/f%d", w.rng.Intn(4))
		data := w.data()
		err = c.c.Put(ctx, path, data, 0o644)
		was := c.files[path]
		if was == nil {
			was = map[string]bool{"": true}
		}
		switch {
		case err == nil:
			c.files[path] = map[string]bool{sum(data): true}
		case acceptable(err): // old or new
			was[sum(data)] = true
			c.files[path] = was
		}
	case "fetch":
		if len(c.files) == 0 {
			op = "fetch-missing"
			_, err = c.c.Fetch(ctx, "/tmp/none")
			if errors.Is(err, sdk.ErrNotFound) {
				err = nil
			}
			break
		}
		path := w.pick(c.files)
		var got []byte
		got, err = c.c.Fetch(ctx, path)
		may := c.files[path]
		switch {
		case err == nil && may[sum(got)]:
			c.files[path] = map[string]bool{sum(got): true}
		case err == nil:
			bad = fmt.Sprintf("fetch %s: %d bytes, sha256 %s, not what was put (%v)", path, len(got), sum(got), keys(may))
		case errors.Is(err, sdk.ErrNotFound) && may[""]:
			err = nil
			c.files[path] = map[string]bool{"": true}
		}
	}
	w.stats.add(op, outcome(err))
	if bad != "" {
		return w.name + ": " + bad
	}
	if err != nil && !acceptable(err) {
		if c != nil && c.doomed && errors.Is(err, sdk.ErrNotFound) {
			w.remove(c) // a destroy that failed had happened after all
			return ""
		}
		return fmt.Sprintf("%s: %s: %v (want success, ErrUnavailable or ErrTimeout)", w.name, op, err)
	}
	return ""
}

// live is the containers not being destroyed.
func (w *sdkWorker) live() []*soakCtr {
	var l []*soakCtr
	for _, c := range w.ctrs {
		if !c.doomed {
			l = append(l, c)
		}
	}
	if len(l) == 0 && len(w.ctrs) > 0 {
		return w.ctrs // retry the destroys
	}
	return l
}

func (w *sdkWorker) remove(c *soakCtr) {
	for i, x := range w.ctrs {
		if x == c {
			w.ctrs = append(w.ctrs[:i], w.ctrs[i+1:]...)
			return
		}
	}
}

// data is random content of a random size: often small, up to maxPutSize.
func (w *sdkWorker) data() []byte {
	n := w.rng.Intn(4096)
	if w.rng.Intn(2) == 0 {
		n = w.rng.Intn(maxPutSize + 1)
	}
	b := make([]byte, n)
	w.rng.Read(b)
	return b
}

func (w *sdkWorker) pick(m map[string]map[string]bool) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks[w.rng.Intn(len(ks))]
}

func keys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		if len(k) > 12 {
			k = k[:12]
		}
		ks = append(ks, k)
	}
	return ks
}

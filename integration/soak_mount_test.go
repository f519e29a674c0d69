package integration

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// mountWorker drives the soak's FUSE mount from child processes (never from
// the test's own goroutines, which could deadlock against the server in
// this process).
type mountWorker struct {
	name  string
	dir   string // the mount's nodes/any
	rng   *mrand.Rand
	stats *soakStats
	wd    *watchdog
	tmp   string
	ctrs  []*mountCtr
	seq   int
}

// mountCtr is a container made through the mount, and for each file copied
// into its files/ the sha256 sums the file may have ("" = absent).
type mountCtr struct {
	name   string
	files  map[string]map[string]bool
	doomed bool // made or removed with an EIO: its state is unknown
}

const maxMountCtrs = 2

// sh runs a shell command line against the mount with the hang bound and
// returns its stdout and how it ended: "ok", "EIO", "ENOENT" or the error
// text.
func (w *mountWorker) sh(script string) (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), hangBound+30*time.Second)
	defer cancel()
	// Never cmd.Dir = the mount: the child's chdir would run between vfork
	// and exec, with this process (the FUSE server) unable to stop the world
	// for a GC until it returns — a deadlock. The shell changes directory.
	cmd := exec.CommandContext(ctx, "sh", "-c", "cd "+w.dir+" && "+script)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	switch {
	case err == nil:
		return stdout.String(), "ok"
	case strings.Contains(stderr.String(), "Input/output error"), strings.Contains(stderr.String(), "I/O error"):
		return stdout.String(), "EIO"
	case strings.Contains(stderr.String(), "No such file or directory"):
		return stdout.String(), "ENOENT"
	}
	return stdout.String(), fmt.Sprintf("%v: %s", err, strings.TrimSpace(stderr.String()))
}

func (w *mountWorker) loop(deadline time.Time) string {
	for time.Now().Before(deadline) {
		if msg := w.step(); msg != "" {
			return msg
		}
	}
	for _, c := range w.ctrs {
		var how string
		for try := 0; try < 5; try++ {
			w.wd.begin(w.name, "final rmdir "+c.name)
			_, how = w.sh("rmdir " + c.name)
			w.wd.end(w.name)
			if how == "ok" || (how == "ENOENT" && c.doomed) || how != "EIO" {
				break
			}
		}
		if how != "ok" && !(how == "ENOENT" && c.doomed) {
			return fmt.Sprintf("mount: final rmdir %s: %s", c.name, how)
		}
	}
	w.ctrs = nil
	return ""
}

func (w *mountWorker) step() string {
	var live []*mountCtr
	for _, c := range w.ctrs {
		if !c.doomed {
			live = append(live, c)
		}
	}
	w.seq++
	var op string
	switch r := w.rng.Intn(100); {
	case len(w.ctrs) < maxMountCtrs && (len(live) == 0 || r < 10):
		op = "mkdir+start"
	case len(live) == 0 || r < 20:
		op = "rmdir"
	case r < 50:
		op = "run"
	case r < 75:
		op = "cp-in"
	default:
		op = "cp-out"
	}
	w.wd.begin(w.name, op)
	defer w.wd.end(w.name)
	began := time.Now()
	defer func() { w.stats.took(w.name, op, time.Since(began)) }()
	var c *mountCtr
	switch {
	case op == "rmdir":
		c = w.ctrs[w.rng.Intn(len(w.ctrs))]
	case len(live) > 0:
		c = live[w.rng.Intn(len(live))]
	}
	var out, how, bad string
	switch op {
	case "mkdir+start":
		c = &mountCtr{name: fmt.Sprintf("m%d", w.seq), files: map[string]map[string]bool{}}
		out, how = w.sh(fmt.Sprintf("mkdir %[1]s && echo busybox > %[1]s/image && echo 'sleep 1000000' > %[1]s/cmd && echo start > %[1]s/ctl && cat %[1]s/status", c.name))
		if how == "ok" && strings.TrimSpace(out) != "running" {
			bad = fmt.Sprintf("status of %s after start: %q", c.name, out)
		}
		c.doomed = how != "ok"
		w.ctrs = append(w.ctrs, c)
	case "rmdir":
		_, how = w.sh("rmdir " + c.name)
		if how == "ok" || (how == "ENOENT" && c.doomed) {
			w.remove(c)
			how = "ok"
		} else if how == "EIO" {
			c.doomed = true
		}
	case "run":
		token := fmt.Sprintf("mount-%d", w.seq)
		out, how = w.sh(fmt.Sprintf("echo 'run echo %[2]s' > %[1]s/ctl && cat %[1]s/procs/last/stdout", c.name, token))
		if how == "ok" && out != token+"\n" {
			bad = fmt.Sprintf("run echo %s on %s: stdout %q", token, c.name, out)
		}
	case "cp-in":
		path := fmt.Sprintf("%s/files/tmp/g%d", c.name, w.rng.Intn(3))
		data := w.data()
		local := filepath.Join(w.tmp, "in")
		if err := os.WriteFile(local, data, 0o644); err != nil {
			return err.Error()
		}
		_, how = w.sh(fmt.Sprintf("cp %s %s", local, path))
		was := c.files[path]
		if was == nil {
			was = map[string]bool{"": true}
		}
		switch how {
		case "ok":
			c.files[path] = map[string]bool{sum(data): true}
		case "EIO": // old or new; or empty: cp's open truncated it before the write failed
			was[sum(data)] = true
			was[sum(nil)] = true
			c.files[path] = was
		}
	case "cp-out":
		if len(c.files) == 0 {
			_, how = w.sh(fmt.Sprintf("cat %s/files/etc/passwd > /dev/null", c.name))
			break
		}
		ks := make([]string, 0, len(c.files))
		for k := range c.files {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		path := ks[w.rng.Intn(len(ks))]
		local := filepath.Join(w.tmp, "out")
		os.Remove(local)
		_, how = w.sh(fmt.Sprintf("cp %s %s", path, local))
		may := c.files[path]
		switch how {
		case "ok":
			got, err := os.ReadFile(local)
			if err != nil {
				return err.Error()
			}
			if !may[sum(got)] {
				bad = fmt.Sprintf("cp out of %s: %d bytes, sha256 %s, not what was copied in (%v)", path, len(got), sum(got), keys(may))
			} else {
				c.files[path] = map[string]bool{sum(got): true}
			}
		case "ENOENT":
			if may[""] {
				how = "ok"
				c.files[path] = map[string]bool{"": true}
			}
		}
	}
	w.stats.add("mount "+op, how)
	if bad != "" {
		return "mount: " + bad
	}
	if how != "ok" && how != "EIO" {
		return fmt.Sprintf("mount: %s on %s: %s (want success or EIO)", op, c.name, how)
	}
	return ""
}

func (w *mountWorker) remove(c *mountCtr) {
	for i, x := range w.ctrs {
		if x == c {
			w.ctrs = append(w.ctrs[:i], w.ctrs[i+1:]...)
			return
		}
	}
}

func (w *mountWorker) data() []byte {
	n := w.rng.Intn(4096)
	if w.rng.Intn(2) == 0 {
		n = w.rng.Intn(maxPutSize + 1)
	}
	b := make([]byte, n)
	w.rng.Read(b)
	return b
}

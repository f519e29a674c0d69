package bench

// Benchmarks of the FUSE filesystem (DESIGN.md, "The filesystem"). Each
// prints the figure through the mount beside a baseline measured in the
// same run: the same operation through the SDK, and for file copies a plain
// local `cp` as well.
//
// The mount is served by this test process, so it is driven only from child
// processes (bash and the tools it runs): file I/O on the mount from the
// test's own goroutines could deadlock against the FUSE server in the same
// process. To keep the comparison fair, the children time themselves with
// bash's $EPOCHREALTIME (a builtin: no fork), so bash's own start-up is
// never counted; what remains inside a timed span is the exec of the tool
// that does the work (mkdir, dd, cp, ls — about a millisecond each), which
// is part of using the filesystem from a shell. Where that matters (ls) the
// same tool is also timed on local disk as a control.
//
// The expensive set-up (a location, the mount, containers) happens once per
// benchmark; `for b.Loop()` runs the measured body -benchtime times.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// fsBench is a location with one session mounted and another for the SDK
// baselines.
type fsBench struct {
	env   *testenv.Env
	mnt   string        // the mount point
	fsLoc *sdk.Location // the mounted session (only for calls that do no file I/O on the mount)
	loc   *sdk.Location // a session of its own for the SDK baselines
	m     *tffsfs.Mounted
}

// sleepers starts a busybox container running `sleep 1000` twice: NAME
// through the mount (nodes/any/NAME, its files/tmp checked) and one through
// the SDK session, which it returns; both go at cleanup.
func (fb *fsBench) sleepers(b *testing.B, name string) *sdk.Container {
	b.Helper()
	sh(b, 2*time.Minute, `
cd "$1/nodes/any"
mkdir "$2"
echo busybox > "$2/image"
echo 'sleep 1000' > "$2/cmd"
echo start > "$2/ctl"
test -d "$2/files/tmp"
`, fb.mnt, name)
	cleanupSh(b, 2*time.Minute, `rmdir "$1/nodes/any/$2"`, fb.mnt, name)
	ctx := context.Background()
	sctr, err := fb.loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		sctr.Destroy(dctx)
	})
	return sctr
}

// requireFUSE skips (or fails under CI=true) without what the FS benchmarks need.
func requireFUSE(b *testing.B) {
	b.Helper()
	testenv.Require(b)
	var missing []string
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing = append(missing, "/dev/fuse")
	}
	for _, bin := range []string{"fusermount3", "bash", "dd", "cp", "ls", "cmp"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		b.Fatalf("FS benchmark prerequisites missing: %v", missing)
	}
	b.Skipf("FS benchmark prerequisites missing: %v", missing)
}

// mountBench starts a location and mounts a session of it; the mount is
// undone at cleanup (before the session and the location end).
func mountBench(b *testing.B) *fsBench {
	b.Helper()
	requireFUSE(b)
	env := testenv.Start(b)
	fsLoc := env.Connect(b)
	loc := env.Connect(b)
	mnt := b.TempDir()
	m, err := tffsfs.Mount(context.Background(), fsLoc, mnt, testenv.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			b.Errorf("unmount: %v", err)
		}
	})
	return &fsBench{env: env, mnt: mnt, fsLoc: fsLoc, loc: loc, m: m}
}

// sh runs a bash script in a child process (set -euo pipefail; $1… are
// args) and returns what it printed, as "key value" lines.
func sh(b *testing.B, timeout time.Duration, script string, args ...string) shOut {
	b.Helper()
	out, err := runSh(timeout, script, args...)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// cleanupSh runs a clean-up script at cleanup; a failure is reported, not fatal.
func cleanupSh(b *testing.B, timeout time.Duration, script string, args ...string) {
	b.Cleanup(func() {
		if _, err := runSh(timeout, script, args...); err != nil {
			b.Errorf("clean-up: %v", err)
		}
	})
}

func runSh(timeout time.Duration, script string, args ...string) (shOut, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-c", "set -euo pipefail\n" + script, "bench"}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("child script failed: %v\nscript:\n%s\nargs: %q\nstdout:\n%s\nstderr:\n%s", err, script, args, out, stderr.Bytes())
	}
	res := shOut{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		res[k] = append(res[k], v)
	}
	return res, nil
}

// shOut is what a child script printed: values by key, in order.
type shOut map[string][]string

func (o shOut) str(b *testing.B, key string) string {
	b.Helper()
	if len(o[key]) == 0 {
		b.Fatalf("child printed no %q (got %v)", key, o)
	}
	return o[key][0]
}

func (o shOut) int(b *testing.B, key string) int64 {
	b.Helper()
	n, err := strconv.ParseInt(o.str(b, key), 10, 64)
	if err != nil {
		b.Fatalf("child printed %s %q: %v", key, o.str(b, key), err)
	}
	return n
}

// micros reads every value of key as microseconds.
func (o shOut) micros(b *testing.B, key string) []time.Duration {
	b.Helper()
	var out []time.Duration
	for _, v := range o[key] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("child printed %s %q: %v", key, v, err)
		}
		out = append(out, time.Duration(n)*time.Microsecond)
	}
	if len(out) == 0 {
		b.Fatalf("child printed no %q (got %v)", key, o)
	}
	return out
}

// now is bash for "microseconds since the epoch", without a fork.
const shNow = `${EPOCHREALTIME/./}`

// BenchmarkFSMkdirToRunning measures making and starting a container
// through the mount — one child shell does mkdir nodes/any/NAME, writes
// image and cmd ('sleep 1000'), writes "start" to ctl and reads status
// until it says "running" — against loc.Node().SpawnContainer(ctx,
// "busybox", sdk.Command("sleep", "1000")) through the SDK. Median of
// `rounds` containers, rounds interleaved; each container is destroyed
// (rmdir / Destroy) outside the timed span. The shell times itself, so only
// the exec of mkdir (~1 ms) is counted on top of the file operations.
func BenchmarkFSMkdirToRunning(b *testing.B) {
	fb := mountBench(b)
	const script = `
cd "$1/nodes/any"
n=$2
t0=` + shNow + `
mkdir "$n"
echo busybox > "$n/image"
echo 'sleep 1000' > "$n/cmd"
echo start > "$n/ctl"
while :; do
	read -r st < "$n/status" || true
	case "$st" in
	running) break ;;
	new|starting) ;;
	*) echo "status: $st; error: $(cat "$n/error")" >&2; exit 1 ;;
	esac
done
t1=` + shNow + `
echo "us $((t1 - t0))"
rmdir "$n"
`
	for i := 0; b.Loop(); i++ {
		var ours, base []time.Duration
		for j := 0; j < rounds; j++ {
			out := sh(b, 2*time.Minute, script, fb.mnt, fmt.Sprintf("c%d-%d", i, j))
			ours = append(ours, out.micros(b, "us")...)

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			t0 := time.Now()
			ctr, err := fb.loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
			if err != nil {
				cancel()
				b.Fatal(err)
			}
			base = append(base, time.Since(t0))
			if err := ctr.Destroy(ctx); err != nil {
				b.Errorf("destroy: %v", err)
			}
			cancel()
		}
		report(b, "fs: mkdir→running (vs SDK spawn)", median(ours), median(base))
	}
}

const streamSize = 200 << 20

// mbps is a throughput in MB/s (MiB, as dd and the other figures count).
func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / (1 << 20) / d.Seconds() }

// reportRate prints the throughput through the mount and through the
// baselines (name, duration pairs); ratio = tffs / baseline (below 1 = the
// mount is slower). key tells the metrics of one figure from another's.
func reportRate(b *testing.B, what, key string, size int64, ours time.Duration, bases ...any) {
	b.ReportMetric(mbps(size, ours), "MB/s-"+key+"-tffs")
	line := fmt.Sprintf("%-34s tffs %6.0f MB/s", what, mbps(size, ours))
	var ratios []string
	for i := 0; i+1 < len(bases); i += 2 {
		name, d := bases[i].(string), bases[i+1].(time.Duration)
		b.ReportMetric(mbps(size, d), "MB/s-"+key+"-"+name)
		line += fmt.Sprintf("   %s %6.0f MB/s", name, mbps(size, d))
		ratios = append(ratios, fmt.Sprintf("%.2f× of %s", float64(d)/float64(ours), name))
	}
	fmt.Printf("%s   ratio %s\n", line, strings.Join(ratios, ", "))
}

// BenchmarkFSStdout200MB measures reading 200 MB of a process's standard
// output through the mount with `dd if=…/stdout of=/dev/null bs=1M`,
// against the same stream read through the SDK:
//
//   - exec'd process: `head -c 209715200 /dev/zero` as a process of a
//     running container; through the mount procs/P/ (write cmd, time from
//     `echo start > ctl` to the EOF of the read of procs/P/stdout), against
//     Container.Spawn and reading Process.Stdout to EOF in 1 MB reads (both
//     spans include starting the process);
//   - main process: a container whose command is that head; through the
//     mount the child times `echo start > ctl` up to the EOF of its read of
//     the container's stdout; the SDK baseline times SpawnContainer with an
//     OnStdout callback up to OnExit (both spans include starting the
//     container).
//
// Bytes read are counted on both sides; a shortfall is printed (the reader
// fell behind the stream's bounded history, or the stream was cut). The
// main-process stream is fed by the SDK's OnStdout: when that stalls (no
// byte for 10 s) the benchmark fails and the main-process figures are left
// out rather than hang.
func BenchmarkFSStdout200MB(b *testing.B) {
	fb := mountBench(b)
	tmp := b.TempDir()
	ddOut := filepath.Join(tmp, "dd.err")
	size := strconv.Itoa(streamSize)
	cmdLine := "head -c " + size + " /dev/zero"

	// The long-lived containers for the exec'd-process variant.
	ctx := context.Background()
	sctr := fb.sleepers(b, "execs")
	dk := startDocker(b, filepath.Join(fb.env.Dir, "busybox.tar"))

	// Both scripts bound the read (a stall must not wedge the run) and
	// print what they got.
	const procScript = `
cd "$1/nodes/any/execs"
p=$2
mkdir "procs/$p"
echo "$3" > "procs/$p/cmd"
t0=` + shNow + `
echo start > "procs/$p/ctl"
timeout -s INT 300 dd if="procs/$p/stdout" of=/dev/null bs=1M 2> "$4" || true
t1=` + shNow + `
echo "us $((t1 - t0))"
echo "bytes $(awk '/bytes/ {print $1; exit}' "$4")"
read -r code < "procs/$p/wait" || true
echo "status $code"
rmdir "procs/$p"
`
	const mainScript = `
cd "$1/nodes/any"
n=$2
mkdir "$n"
echo busybox > "$n/image"
echo "$3" > "$n/cmd"
t0=` + shNow + `
echo start > "$n/ctl"
timeout -s INT 300 dd if="$n/stdout" of=/dev/null bs=1M 2> "$4" || true
t1=` + shNow + `
echo "us $((t1 - t0))"
echo "bytes $(awk '/bytes/ {print $1; exit}' "$4")"
read -r st < "$n/status" || true
echo "status $st"
rmdir "$n" || echo "rmdir-failed $(cat "$n/error" 2>/dev/null)"
`
	check := func(what string, got int64, status string) {
		if got != streamSize {
			fmt.Printf("    %s: read %d bytes of %d (%+d): the reader fell behind or the stream was cut\n", what, got, streamSize, got-streamSize)
		}
		if status != "exited 0" && status != "0" {
			fmt.Printf("    %s: the process ended with status %q\n", what, status)
		}
	}
	buf := make([]byte, 1<<20)
	mainStalled := false
	for i := 0; b.Loop(); i++ {
		// Exec'd process, through the mount.
		out := sh(b, 10*time.Minute, procScript, fb.mnt, fmt.Sprintf("p%d", i), cmdLine, ddOut)
		oursProc := out.micros(b, "us")[0]
		check("mount procs/P/stdout", out.int(b, "bytes"), out.str(b, "status"))

		// Exec'd process, through the SDK.
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		t0 := time.Now()
		p, err := sctr.Spawn(cctx, []string{"head", "-c", size, "/dev/zero"})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		p.Stdin.Close()
		go io.Copy(io.Discard, p.Stderr)
		got, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, p.Stdout, buf)
		if err != nil {
			b.Errorf("read Process.Stdout: %v", err)
		}
		code, err := p.Wait(cctx)
		baseProc := time.Since(t0)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		check("SDK Process.Stdout", got, strconv.Itoa(code))
		reportRate(b, "fs: cat procs/P/stdout 200 MB", "proc", streamSize, oursProc, "sdk", baseProc)

		if mainStalled {
			continue
		}
		// Main process, through the SDK.
		var n atomic.Int64
		exited := make(chan int, 1)
		cctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		t0 = time.Now()
		c, err := fb.loc.Node().SpawnContainer(cctx, "busybox", sdk.Command("head", "-c", size, "/dev/zero"),
			sdk.OnStdout(func(p []byte) { n.Add(int64(len(p))) }),
			sdk.OnExit(func(code int) { exited <- code }))
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		tick := time.NewTicker(time.Second)
		last, lastAt := int64(-1), time.Now()
		code = -1
	wait:
		for {
			select {
			case code = <-exited:
				break wait
			case <-tick.C:
				if now := n.Load(); now != last {
					last, lastAt = now, time.Now()
				} else if time.Since(lastAt) > 10*time.Second {
					mainStalled = true
					break wait
				}
			}
		}
		tick.Stop()
		baseMain := time.Since(t0)
		if mainStalled {
			fmt.Printf("%-34s STALLED: SDK OnStdout got %d of %d bytes, then nothing for 10 s; the mount's stdout is fed by OnStdout, so it is not measured\n",
				"fs: cat stdout 200 MB (main)", n.Load(), streamSize)
			b.Errorf("main-process stdout through the SDK (OnStdout) stalled after %d of %d bytes", n.Load(), streamSize)
		} else {
			check("SDK OnStdout", n.Load(), strconv.Itoa(code))
		}
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		if err := c.Destroy(dctx); err != nil {
			b.Errorf("destroy: %v", err)
		}
		dcancel()
		cancel()
		if mainStalled {
			continue
		}

		// Main process, through the mount.
		out = sh(b, 10*time.Minute, mainScript, fb.mnt, fmt.Sprintf("s%d", i), cmdLine, ddOut)
		oursMain := out.micros(b, "us")[0]
		check("mount stdout", out.int(b, "bytes"), out.str(b, "status"))
		if why, failed := out["rmdir-failed"]; failed {
			b.Errorf("rmdir of a container after its stdout was read: %v", why)
		}
		reportRate(b, "fs: cat stdout 200 MB (main)", "main", streamSize, oursMain, "sdk", baseMain)

		// `tffs run` (a client process of its own) and docker run.
		run := tffsRunStdout(b, fb.env, streamSize)
		if dk != nil {
			drun := dk.runStdout(b, streamSize)
			reportRate(b, "stdout 200 MB: tffs run vs docker", "run", streamSize, run, "docker-run", drun, "sdk-OnStdout", baseMain, "mount-cat", oursMain)
		} else {
			reportRate(b, "stdout 200 MB: tffs run", "run", streamSize, run, "sdk-OnStdout", baseMain, "mount-cat", oursMain)
		}
	}
}

// tffsRunStdout times `tffs run busybox head -c size /dev/zero` against the
// bench's location, its output read to the end and discarded.
func tffsRunStdout(b *testing.B, env *testenv.Env, size int) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(b), "run", "--location", env.Loc.Config.Name,
		"busybox", "head", "-c", strconv.Itoa(size), "/dev/zero")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	cw := &countWriter{}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = cw, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("tffs run: %v\n%s", err, stderr.Bytes())
	}
	took := time.Since(t0)
	if cw.n != int64(size) {
		fmt.Printf("    tffs run: read %d bytes of %d\n", cw.n, size)
	}
	return took
}

const copySize = 100 << 20

// BenchmarkFSCopy100MB measures `cp` of a 100 MB file from local disk into
// a running container's files/tmp/ through the mount, and back out to
// local disk, against Container.PutReader from the same file and
// FetchReader into a local file through the SDK, and against plain `cp` on
// local disk (no fsync on any side). The child shell times each cp; the
// copy that came back is compared with the original.
func BenchmarkFSCopy100MB(b *testing.B) {
	fb := mountBench(b)
	ctx := context.Background()
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	data := make([]byte, copySize)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	sctr := fb.sleepers(b, "files1")
	dk := startDocker(b, filepath.Join(fb.env.Dir, "busybox.tar"))
	var dctr string
	if dk != nil {
		dctr = dk.sleeper(b)
	}

	const script = `
src=$1 in=$2/nodes/any/files1/files/tmp/big back=$3 loc=$4
rm -f "$in" "$back" "$loc"
t0=` + shNow + `
cp "$src" "$in"
t1=` + shNow + `
cp "$in" "$back"
t2=` + shNow + `
cp "$src" "$loc"
t3=` + shNow + `
echo "in $((t1 - t0))"
echo "out $((t2 - t1))"
echo "local $((t3 - t2))"
cmp -s "$src" "$back" && echo "same yes" || echo "same no"
rm -f "$in" "$back" "$loc"
`
	back, local, sdkBack := filepath.Join(dir, "back"), filepath.Join(dir, "local"), filepath.Join(dir, "sdkback")
	for b.Loop() {
		out := sh(b, 10*time.Minute, script, src, fb.mnt, back, local)
		in, outT, cp := out.micros(b, "in")[0], out.micros(b, "out")[0], out.micros(b, "local")[0]
		if out.str(b, "same") != "yes" {
			b.Errorf("the file copied out of the mount differs from the one copied in")
		}

		cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		err = sctr.PutReader(cctx, "/tmp/big", f, 0o644)
		put := time.Since(t0)
		f.Close()
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		t0 = time.Now()
		rc, _, err := sctr.FetchReader(cctx, "/tmp/big")
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		w, err := os.Create(sdkBack)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		w.Close()
		fetch := time.Since(t0)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if got, _ := os.ReadFile(sdkBack); !bytes.Equal(got, data) {
			b.Errorf("fetched data differs")
		}
		os.Remove(sdkBack)

		reportRate(b, "fs: cp 100 MB into files/", "in", copySize, in, "put", put, "cp", cp)
		reportRate(b, "fs: cp 100 MB out of files/", "out", copySize, outT, "fetch", fetch, "cp", cp)
		if dk != nil {
			dIn := dk.timed(b, "cp", src, dctr+":/tmp/big")
			dOut := dk.timed(b, "cp", dctr+":/tmp/big", sdkBack)
			if got, _ := os.ReadFile(sdkBack); !bytes.Equal(got, data) {
				b.Errorf("docker cp: the file copied out differs")
			}
			os.Remove(sdkBack)
			dk.run(time.Minute, "exec", dctr, "rm", "-f", "/tmp/big")
			reportRate(b, "SDK Put 100 MB vs docker cp in", "sdkput", copySize, put, "docker-cp", dIn, "mount-cp", in, "cp", cp)
			reportRate(b, "SDK Fetch 100 MB vs docker cp out", "sdkfetch", copySize, fetch, "docker-cp", dOut, "mount-cp", outT, "cp", cp)
		}
	}
}

const lsContainers = 100

// BenchmarkFSLs100 measures `ls -l` over 100 containers of the mounted
// session — of containers/ (one symlink per container) and of nodes/any/
// (one directory per container) — per entry, against the same listing
// through the SDK, loc.ListContainers (a round trip to the master), per
// entry. `ls -l` of a local directory of 100 symlinks, timed by the same
// child, shows what exec'ing ls costs by itself. Median of `rounds`.
// (ls -lR is not used: it would descend into every container's files/.)
func BenchmarkFSLs100(b *testing.B) {
	fb := mountBench(b)
	ctx := context.Background()
	sh(b, 15*time.Minute, `
cd "$1/nodes/any"
for i in $(seq -w 1 $2); do
	mkdir "l$i"
	echo busybox > "l$i/image"
	echo 'sleep 1000' > "l$i/cmd"
	echo start > "l$i/ctl"
done
`, fb.mnt, strconv.Itoa(lsContainers))
	cleanupSh(b, 15*time.Minute, `cd "$1/nodes/any" && ls -d l* | xargs -r -P 4 -n 1 rmdir`, fb.mnt)
	local := b.TempDir()
	for i := 1; i <= lsContainers; i++ {
		name := fmt.Sprintf("l%03d", i)
		if err := os.Symlink("../nodes/any/"+name, filepath.Join(local, name)); err != nil {
			b.Fatal(err)
		}
	}
	// The listings are complete.
	out := sh(b, time.Minute, `
cd "$1"
echo "links $(ls -l containers | grep -c '^l')"
echo "dirs $(ls -l nodes/any | grep -c '^d')"
`, fb.mnt)
	if out.int(b, "links") != lsContainers || out.int(b, "dirs") != lsContainers {
		b.Fatalf("listing through the mount: %v, want %d each", out, lsContainers)
	}
	if l, err := fb.fsLoc.ListContainers(ctx); err != nil || len(l) != lsContainers {
		b.Fatalf("ListContainers: %d, %v; want %d", len(l), err, lsContainers)
	}

	const script = `
cd "$1"
for r in $(seq $2); do
	t0=` + shNow + `
	ls -l containers > /dev/null
	t1=` + shNow + `
	ls -l nodes/any > /dev/null
	t2=` + shNow + `
	ls -l "$3" > /dev/null
	t3=` + shNow + `
	echo "containers $((t1 - t0))"
	echo "nodes $((t2 - t1))"
	echo "local $((t3 - t2))"
done
`
	perEntry := func(d time.Duration) time.Duration { return d / lsContainers }
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	for b.Loop() {
		out := sh(b, 5*time.Minute, script, fb.mnt, strconv.Itoa(rounds), local)
		ctrs := perEntry(median(out.micros(b, "containers")))
		nodes := perEntry(median(out.micros(b, "nodes")))
		loc := perEntry(median(out.micros(b, "local")))
		var sdkT []time.Duration
		for j := 0; j < rounds; j++ {
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			t0 := time.Now()
			l, err := fb.fsLoc.ListContainers(cctx)
			sdkT = append(sdkT, time.Since(t0))
			cancel()
			if err != nil || len(l) != lsContainers {
				b.Fatalf("ListContainers: %d, %v", len(l), err)
			}
		}
		sdkE := perEntry(median(sdkT))
		b.ReportMetric(us(ctrs), "µs/entry-containers")
		b.ReportMetric(us(nodes), "µs/entry-nodes-any")
		b.ReportMetric(us(sdkE), "µs/entry-sdk")
		b.ReportMetric(us(loc), "µs/entry-local-ls")
		fmt.Printf("%-34s tffs %7.1f µs/entry   sdk %7.1f µs/entry   local ls %7.1f µs/entry   ratio %.2f× sdk, %.2f× local\n",
			"fs: ls -l containers/ (100)", us(ctrs), us(sdkE), us(loc), float64(ctrs)/float64(sdkE), float64(ctrs)/float64(loc))
		fmt.Printf("%-34s tffs %7.1f µs/entry   sdk %7.1f µs/entry   local ls %7.1f µs/entry   ratio %.2f× sdk, %.2f× local\n",
			"fs: ls -l nodes/any/ (100)", us(nodes), us(sdkE), us(loc), float64(nodes)/float64(sdkE), float64(nodes)/float64(loc))
	}
}

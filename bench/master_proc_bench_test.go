package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/sdk"
)

// BenchmarkMasterCPUPerGB runs the master as a process of its own (`tffs
// master`), with the node and the client in this process, and prints the
// master's CPU seconds per GB it relays (from its /proc/PID/stat before
// and after 100 MB put and fetched back), beside the throughput.
func BenchmarkMasterCPUPerGB(b *testing.B) {
	testenv.Require(b)
	bin := testenv.Binary(b)
	dir, err := os.MkdirTemp("/tmp", "tffs-mp-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	mdir, ndir, cdir := filepath.Join(dir, "m"), filepath.Join(dir, "n"), filepath.Join(dir, "c")

	// The master.
	mctx, mcancel := context.WithCancel(context.Background())
	mcmd := exec.CommandContext(mctx, bin, "master", "--dir", mdir, "--listen", "tcp://127.0.0.1:*")
	mcmd.Cancel = func() error { return mcmd.Process.Signal(syscall.SIGTERM) }
	mcmd.WaitDelay = 20 * time.Second
	mcmd.Stderr = io.Discard
	out, err := mcmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := mcmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mcancel(); mcmd.Wait(); os.RemoveAll(mdir) }) // the master may write its state as it stops
	sc := bufio.NewScanner(out)
	var addr, mkey string
	for (addr == "" || mkey == "") && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "master "); ok {
			addr = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "public key "); ok {
			mkey = v
		}
	}
	if addr == "" || mkey == "" {
		b.Fatalf("the master printed no address or key")
	}
	go io.Copy(io.Discard, out)
	admin := func(args ...string) {
		b.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for {
			o, err := exec.CommandContext(ctx, bin, append(args, "--dir", mdir)...).CombinedOutput()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				b.Fatalf("tffs %v: %v\n%s", args, err, o)
			}
			time.Sleep(100 * time.Millisecond) // the admin socket may not be up yet
		}
	}

	// The client's account and the node.
	ck, err := sdk.ClientKey(cdir)
	if err != nil {
		b.Fatal(err)
	}
	admin("account", "add", "bench", ck.Public)
	name := "mp" + filepath.Base(dir)[len("tffs-mp-"):]
	n, err := node.New(node.Config{Name: name, Dir: ndir, Master: addr, MasterKey: mkey, Log: testenv.Logger(b).With("component", "node")})
	if err != nil {
		b.Fatal(err)
	}
	admin("node", "register", name, n.PublicKey())
	nctx, ncancel := context.WithCancel(context.Background())
	ndone := make(chan error, 1)
	go func() { ndone <- n.Run(nctx) }()
	b.Cleanup(func() { ncancel(); <-ndone })

	if err := sdk.WriteConfig(cdir, sdk.LocationConfig{Name: "mp", Master: addr, MasterKey: mkey}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	loc, err := sdk.Connect(cctx, sdk.WithDir(cdir), sdk.WithLocation("mp"))
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { loc.Close() })
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if o, err := loc.RefreshOffer(ctx); err == nil && len(o.Nodes) > 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the node never joined the master")
		}
	}
	tarPath := filepath.Join(dir, "busybox.tar")
	if err := ociarchive.BuildBusybox("/bin/busybox", tarPath, "busybox:latest"); err != nil {
		b.Fatal(err)
	}
	if _, err := loc.ImportImages(ctx, tarPath, nil); err != nil {
		b.Fatal(err)
	}
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ctr.Destroy(context.Background()) })

	const size = 100 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{3}).Read(data)
	want := sha256.Sum256(data)
	pid := mcmd.Process.Pid
	for b.Loop() {
		m0, t0 := procCPU(b, pid), time.Now()
		if err := ctr.PutReader(ctx, "/tmp/big", bytes.NewReader(data), 0o644); err != nil {
			b.Fatal(err)
		}
		put, putCPU := time.Since(t0), procCPU(b, pid)-m0
		m0, t0 = procCPU(b, pid), time.Now()
		rc, _, err := ctr.FetchReader(ctx, "/tmp/big")
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		got, err := io.Copy(h, rc)
		rc.Close()
		fetch, fetchCPU := time.Since(t0), procCPU(b, pid)-m0
		if err != nil || got != size || !bytes.Equal(h.Sum(nil), want[:]) {
			b.Fatalf("fetched %d bytes (err %v) that differ from what was put", got, err)
		}
		gb := float64(size) / (1 << 30)
		fmt.Printf("%-34s put %6.0f MB/s  fetch %6.0f MB/s   master CPU put %5.2f  fetch %5.2f s/GB (tffs master process, /proc/PID/stat)\n",
			"master process: 100 MB relayed", float64(size)/(1<<20)/put.Seconds(), float64(size)/(1<<20)/fetch.Seconds(),
			putCPU.Seconds()/gb, fetchCPU.Seconds()/gb)
		b.ReportMetric(putCPU.Seconds()/gb, "master-CPU-s/GB-put")
		b.ReportMetric(fetchCPU.Seconds()/gb, "master-CPU-s/GB-fetch")
	}
}

// procCPU is the user+system CPU time process pid used so far.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (which may hold spaces) start after ") ".
	i := bytes.LastIndexByte(st, ')')
	f := strings.Fields(string(st[i+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stt) * time.Second / 100 // USER_HZ
}

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
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/sdk"
)

// secondNode starts another node (its own private containerd) on the
// bench's location and waits until the master offers it.
func secondNode(b *testing.B, env *testenv.Env, loc *sdk.Location) string {
	b.Helper()
	name := env.Loc.Config.Name + "b"
	dir, err := os.MkdirTemp("/tmp", "tffs-n2-")
	if err != nil {
		b.Fatal(err)
	}
	n, err := node.New(node.Config{Name: name, Dir: dir, Master: env.Loc.Config.Master,
		MasterKey: env.Loc.Master.PublicKey(), Log: testenv.Logger(b).With("component", "node2")})
	if err != nil {
		b.Fatal(err)
	}
	if err := env.Loc.Master.AddNode(name, n.PublicKey()); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("second node: %v", err)
		}
		os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := loc.NodeNamed(name); err == nil {
			return name
		}
		if time.Now().After(deadline) {
			b.Fatalf("node %s never joined", name)
		}
		loc.RefreshOffer(context.Background())
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkRelay4x100MB moves 100 MB four times at once — two sessions,
// each with a container on each of two nodes — through the master, in and
// then out, and prints the location's aggregate MB/s. It also prints the
// CPU seconds per GB relayed, from getrusage deltas around the transfers:
// client, master and node run in this one process, so the figure is the
// whole data path's cost (both CURVE hops, both ends), an upper bound
// for the master's share; bench/PROFILE.md splits it.
func BenchmarkRelay4x100MB(b *testing.B) {
	env := testenv.Start(b)
	loc1 := env.Connect(b)
	loc2 := env.Connect(b)
	n2 := secondNode(b, env, loc1)
	ctx := context.Background()
	var ctrs []*sdk.Container
	for _, loc := range []*sdk.Location{loc1, loc2} {
		if _, err := loc.RefreshOffer(ctx); err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{env.Loc.Config.Name, n2} {
			nd, err := loc.NodeNamed(name)
			if err != nil {
				b.Fatal(err)
			}
			c, err := nd.SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Destroy(context.Background()) })
			ctrs = append(ctrs, c)
		}
	}
	const size = 100 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data)
	want := sha256.Sum256(data)
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, len(ctrs))
		c0, t0 := cpuTime(), time.Now()
		for _, c := range ctrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.PutReader(ctx, "/tmp/big", bytes.NewReader(data), 0o644); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		put, putCPU := time.Since(t0), cpuTime()-c0
		c0, t0 = cpuTime(), time.Now()
		for _, c := range ctrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rc, _, err := c.FetchReader(ctx, "/tmp/big")
				if err != nil {
					errs <- err
					return
				}
				defer rc.Close()
				h := sha256.New()
				n, err := io.Copy(h, rc)
				if err == nil && (n != size || !bytes.Equal(h.Sum(nil), want[:])) {
					err = fmt.Errorf("fetched %d bytes that differ from what was put", n)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		fetch, fetchCPU := time.Since(t0), cpuTime()-c0
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		gb := float64(len(ctrs)*size) / (1 << 30)
		total := float64(len(ctrs) * size)
		b.ReportMetric(total/(1<<20)/put.Seconds(), "MB/s-put-4x")
		b.ReportMetric(total/(1<<20)/fetch.Seconds(), "MB/s-fetch-4x")
		fmt.Printf("%-34s put %6.0f MB/s  fetch %6.0f MB/s aggregate (4 × 100 MB, 2 sessions × 2 nodes)\n",
			"relay 4 concurrent transfers", total/(1<<20)/put.Seconds(), total/(1<<20)/fetch.Seconds())
		fmt.Printf("%-34s put %5.2f  fetch %5.2f CPU s/GB relayed (getrusage; client+master+node in this process)\n",
			"relay CPU", putCPU.Seconds()/gb, fetchCPU.Seconds()/gb)
	}
}

// BenchmarkPutFetch2GB puts a 2 GB stream (generated, never held whole)
// into a container and fetches it back (hashed, never held whole), and
// prints the process's peak RSS and the Go heap's peak during each: client,
// master and node all run in this process, so constant memory for all
// three shows as a peak that does not grow with the size. Not part of
// `make bench`'s 10 rounds by default: it runs once whatever -benchtime.
func BenchmarkPutFetch2GB(b *testing.B) {
	env := testenv.Start(b)
	loc := env.Connect(b)
	ctx := context.Background()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		b.Fatal(err)
	}
	const size = 2 << 30
	for i := 0; b.Loop(); i++ {
		if i > 0 {
			continue // once is enough
		}
		runtime.GC()
		resetPeakRSS()
		heap := watchHeap()
		h := sha256.New()
		t0 := time.Now()
		src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{2}), size), h)
		if err := ctr.PutReader(ctx, "/tmp/huge", src, 0o644); err != nil {
			b.Fatal(err)
		}
		put := time.Since(t0)
		putRSS, putHeap := peakRSS(), heap()
		want := h.Sum(nil)

		runtime.GC()
		resetPeakRSS()
		heap = watchHeap()
		t0 = time.Now()
		rc, _, err := ctr.FetchReader(ctx, "/tmp/huge")
		if err != nil {
			b.Fatal(err)
		}
		h.Reset()
		n, err := io.Copy(h, rc)
		rc.Close()
		fetch := time.Since(t0)
		fetchRSS, fetchHeap := peakRSS(), heap()
		if err != nil || n != size || !bytes.Equal(h.Sum(nil), want) {
			b.Fatalf("fetched %d bytes (err %v) that differ from what was put", n, err)
		}
		ctr.Remove(ctx, "/tmp/huge", false)
		fmt.Printf("%-34s put %6.0f MB/s  peak RSS %4d MB  peak Go heap %4d MB (client+master+node)\n",
			"2 GB put", float64(size)/(1<<20)/put.Seconds(), putRSS>>20, putHeap>>20)
		fmt.Printf("%-34s fetch %4.0f MB/s  peak RSS %4d MB  peak Go heap %4d MB (client+master+node)\n",
			"2 GB fetch", float64(size)/(1<<20)/fetch.Seconds(), fetchRSS>>20, fetchHeap>>20)
		b.ReportMetric(float64(putRSS>>20), "MB-peak-rss-put")
		b.ReportMetric(float64(fetchRSS>>20), "MB-peak-rss-fetch")
	}
}

// resetPeakRSS resets the kernel's peak RSS (VmHWM) of this process.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM of this process in bytes.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// watchHeap samples the Go heap (live and not yet swept objects) every
// 20 ms until the returned function is called; that returns the largest
// sample.
func watchHeap() func() uint64 {
	stop := make(chan struct{})
	res := make(chan uint64, 1)
	go func() {
		var peak uint64
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-res }
}

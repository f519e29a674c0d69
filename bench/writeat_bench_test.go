package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// BenchmarkWriteAtPipelined writes 100 MB into a running container's
// existing file with sdk Container.WriteAt, 512 KiB a call and 8 calls in
// flight (what the mount's write-behind sends for random writes), and
// with a FileWriter (OpenWriter: one stream, what the mount uses for a
// sequential writer such as `cp` into files/), against Put of the same
// bytes. It separates the cost of the call path from FUSE's.
func BenchmarkWriteAtPipelined(b *testing.B) {
	env := testenv.Start(b)
	loc := env.Connect(b)
	ctx := context.Background()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		b.Fatal(err)
	}
	defer ctr.Destroy(context.Background())
	const size, chunk, inflight = copySize, 512 << 10, 8
	data := make([]byte, size)
	rand.Read(data)
	for b.Loop() {
		if err := ctr.Put(ctx, "/tmp/w", nil, 0o644); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		sem := make(chan struct{}, inflight)
		errs := make(chan error, size/chunk+1)
		for off := 0; off < size; off += chunk {
			sem <- struct{}{}
			go func(off int) {
				defer func() { <-sem }()
				end := min(off+chunk, size)
				_, _, err := ctr.WriteAt(ctx, "/tmp/w", int64(off), data[off:end], false, false)
				errs <- err
			}(off)
		}
		for range cap(sem) {
			sem <- struct{}{}
		}
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		wa := time.Since(t0)
		t0 = time.Now()
		fw, err := ctr.OpenWriter(ctx, "/tmp/w", 0)
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < size; off += chunk {
			if _, err := fw.Write(ctx, data[off:min(off+chunk, size)]); err != nil {
				b.Fatal(err)
			}
		}
		if n, err := fw.Close(ctx); err != nil || n != size {
			b.Fatalf("FileWriter: size %d, %v", n, err)
		}
		st := time.Since(t0)
		t0 = time.Now()
		if err := ctr.Put(ctx, "/tmp/p", data, 0o644); err != nil {
			b.Fatal(err)
		}
		put := time.Since(t0)
		fmt.Printf("%-34s WriteAt 512K×8 %6.0f MB/s   FileWriter %6.0f MB/s   Put %6.0f MB/s\n",
			"SDK in-place writes of 100 MB", mbps(size, wa), mbps(size, st), mbps(size, put))
		b.ReportMetric(mbps(size, wa), "MB/s-writeat")
		b.ReportMetric(mbps(size, st), "MB/s-filewriter")
		b.ReportMetric(mbps(size, put), "MB/s-put")
	}
}

package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// BenchmarkCallLatency times one location call that does almost nothing on
// the node (Stat of "/"): client → master → node and back, two CURVE hops
// each way. The baseline is a loopback TCP round trip of a few bytes
// between two goroutines, the floor of any networked call on this machine.
// Every call a tool makes in a container's files/ costs about this.
func BenchmarkCallLatency(b *testing.B) {
	env := testenv.Start(b)
	loc := env.Connect(b)
	ctx := context.Background()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		b.Fatal(err)
	}
	defer ctr.Destroy(context.Background())
	tcpRTT := tcpRoundTrip(b)
	const calls = 500
	for i := 0; i < b.N; i++ {
		var ours []time.Duration
		for j := 0; j < calls; j++ {
			t0 := time.Now()
			if _, err := ctr.Stat(ctx, "/"); err != nil {
				b.Fatal(err)
			}
			ours = append(ours, time.Since(t0))
		}
		var master []time.Duration // a call the master answers itself
		for j := 0; j < calls; j++ {
			t0 := time.Now()
			if _, err := loc.ListContainers(ctx); err != nil {
				b.Fatal(err)
			}
			master = append(master, time.Since(t0))
		}
		mm := median(master)
		b.ReportMetric(float64(mm.Microseconds()), "µs-master")
		fmt.Printf("%-34s %6d µs\n", "master-only call (ListContainers)", mm.Microseconds())
		base := tcpRTT(calls)
		m, bm := median(ours), median(base) // median sorts
		var sum time.Duration
		for _, d := range ours {
			sum += d
		}
		p90, p99 := ours[len(ours)*9/10], ours[len(ours)*99/100]
		b.ReportMetric(float64(p99.Microseconds()), "µs-p99")
		b.ReportMetric(float64((sum / calls).Microseconds()), "µs-mean")
		fmt.Printf("%-34s p90 %6d µs   p99 %6d µs   mean %6d µs   max %6d µs\n", "call latency tail", p90.Microseconds(), p99.Microseconds(), (sum / calls).Microseconds(), ours[len(ours)-1].Microseconds())
		b.ReportMetric(float64(m.Microseconds()), "µs-call")
		b.ReportMetric(float64(bm.Microseconds()), "µs-tcp")
		fmt.Printf("%-34s tffs %8d µs   tcp rtt %6d µs   ratio %.1f×\n", "call latency (Stat, median of 500)",
			m.Microseconds(), bm.Microseconds(), float64(m)/float64(bm))
	}
}

// tcpRoundTrip starts a loopback echo server and returns a function timing
// n round trips of 16 bytes over one connection.
func tcpRoundTrip(b *testing.B) func(n int) []time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 16)
				r := bufio.NewReader(c)
				for {
					if _, err := r.Read(buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return func(n int) []time.Duration {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 16)
		out := make([]time.Duration, 0, n)
		for range n {
			t0 := time.Now()
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Read(buf); err != nil {
				b.Fatal(err)
			}
			out = append(out, time.Since(t0))
		}
		return out
	}
}

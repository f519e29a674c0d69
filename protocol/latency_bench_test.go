package protocol

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Latency floors of one request and its reply over loopback, for the
// breakdown of a location call in bench/PROFILE.md: raw libzmq CURVE
// sockets, then our transport (pump, link) one hop and two hops relayed.

const latencyRounds = 2000

// reportLatency reports the median and tail of ds.
func reportLatency(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	q := func(f float64) time.Duration { return ds[int(f*float64(len(ds)-1))] }
	b.ReportMetric(float64(q(0.5).Microseconds()), "µs-p50")
	b.ReportMetric(float64(q(0.99).Microseconds()), "µs-p99")
	fmt.Printf("%-28s p10 %5d µs  p50 %5d µs  p90 %5d µs  p99 %6d µs  mean %6d µs  max %6d µs\n", name,
		q(0.1).Microseconds(), q(0.5).Microseconds(), q(0.9).Microseconds(), q(0.99).Microseconds(),
		(sum / time.Duration(len(ds))).Microseconds(), ds[len(ds)-1].Microseconds())
}

// BenchmarkLatencyRawCurve is the floor: a CURVE DEALER and ROUTER with our
// socket options, blocking libzmq receives, no pump.
func BenchmarkLatencyRawCurve(b *testing.B) {
	if err := startAuth(); err != nil {
		b.Fatal(err)
	}
	skp, _ := NewKeyPair()
	ckp, _ := NewKeyPair()
	domain := "bench-raw"
	zap.add(domain, ckp.Public)
	defer zap.removeAll(domain)
	srv, _ := zmq.NewSocket(zmq.ROUTER)
	defer srv.Close()
	srv.SetLinger(0)
	srv.SetRouterHandover(true)
	srv.SetHeartbeatIvl(zmqHBIvl)
	srv.SetHeartbeatTimeout(zmqHBTimer)
	if err := srv.ServerAuthCurve(domain, skp.Secret); err != nil {
		b.Fatal(err)
	}
	if err := srv.Bind("tcp://127.0.0.1:*"); err != nil {
		b.Fatal(err)
	}
	addr, _ := srv.GetLastEndpoint()
	cli, _ := zmq.NewSocket(zmq.DEALER)
	defer cli.Close()
	cli.SetLinger(0)
	cli.SetHeartbeatIvl(zmqHBIvl)
	cli.SetHeartbeatTimeout(zmqHBTimer)
	if err := cli.ClientAuthCurve(skp.Public, ckp.Public, ckp.Secret); err != nil {
		b.Fatal(err)
	}
	if err := cli.Connect(addr); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			f, err := srv.RecvMessageBytes(0)
			if err != nil || len(f) == 2 && string(f[1]) == "quit" {
				return
			}
			srv.SendMessage(f)
		}
	}()
	hdr := make([]byte, linkHdrSize)
	body := make([]byte, 80)
	for i := 0; i < b.N; i++ {
		ds := make([]time.Duration, 0, latencyRounds)
		for range latencyRounds {
			t0 := time.Now()
			if _, err := cli.SendMessage("session", hdr, body); err != nil {
				b.Fatal(err)
			}
			if _, err := cli.RecvMessageBytes(0); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		reportLatency(b, "raw CURVE, 1 hop", ds)
	}
	cli.SendMessage("quit")
	<-done
}

// benchPair is a Server and a Client dialled to it.
func benchPair(b *testing.B, name string) (*Server, *Client) {
	skp, _ := NewKeyPair()
	ckp, _ := NewKeyPair()
	srv, err := Listen("tcp://127.0.0.1:*", skp, "bench-"+name, slog.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	srv.Allow(ckp.Public)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.Addr(), skp.Public, ckp, "sess-"+name, slog.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return srv, c
}

// BenchmarkLatencyTransport times a request and its reply through our
// transport: one hop (client → server) and two hops (client → server that
// relays through a client of its own to a second server, as the master
// relays a location call to a node).
func BenchmarkLatencyTransport(b *testing.B) {
	for _, hops := range []int{1, 2} {
		b.Run(fmt.Sprintf("hops=%d", hops), func(b *testing.B) {
			last, c := benchPair(b, fmt.Sprintf("h%d-a", hops))
			entry := last
			if hops == 2 {
				var relay *Client
				last, relay = benchPair(b, fmt.Sprintf("h%d-b", hops))
				go func() { // the relay: forwards requests, returns replies
					peer := ""
					for {
						select {
						case in, ok := <-entry.Recv():
							if !ok {
								return
							}
							peer = in.Peer
							relay.Send(in.Msg)
						case m, ok := <-relay.Recv():
							if !ok {
								return
							}
							entry.Send(peer, m)
						case <-entry.p.closed:
							return
						}
					}
				}()
			}
			go func() { // the server: answers every request
				for {
					select {
					case in := <-last.Recv():
						last.Send(in.Peer, in.Msg.Reply(nil, nil))
					case <-last.p.closed:
						return
					}
				}
			}()
			body := HelloRequest{Client: "bench"}
			for i := 0; i < b.N; i++ {
				ds := make([]time.Duration, 0, latencyRounds)
				for j := range latencyRounds {
					m, _ := NewRequest(uint64(j+1), OpHello, body)
					t0 := time.Now()
					if err := c.Send(m); err != nil {
						b.Fatal(err)
					}
					<-c.Recv()
					ds = append(ds, time.Since(t0))
				}
				reportLatency(b, fmt.Sprintf("transport, %d hop(s)", hops), ds)
			}
		})
	}
}

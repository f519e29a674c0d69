package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// tcpserve builds the static test server of integration/testdata/tcpserve.
func tcpserve(b *testing.B) []byte {
	dir := b.TempDir()
	bin := filepath.Join(dir, "tcpserve")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, "../integration/testdata/tcpserve")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build tcpserve: %v: %s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// sendCount sends size zero bytes on a new connection to addr, half-closes
// and waits for the server's byte count.
func sendCount(b *testing.B, addr string, size int64) time.Duration {
	buf := make([]byte, 1<<20)
	t0 := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	conn.(*net.TCPConn).CloseWrite()
	ans, err := io.ReadAll(conn)
	if err != nil || strings.TrimSpace(string(ans)) != strconv.FormatInt(size, 10) {
		b.Fatalf("server counted %q (%v), want %d", ans, err, size)
	}
	return time.Since(t0)
}

// firstByte is the time from dialling addr to the first byte of the
// server's greeting.
func firstByte(b *testing.B, addr string) time.Duration {
	t0 := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	one := make([]byte, 1)
	if _, err := io.ReadFull(conn, one); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// BenchmarkTunnel measures one tunnelled connection carrying
// TFFS_BENCH_TUNNEL_MB (default 1024) MB to a server in the container,
// against a direct TCP connection from the node's host to the container's
// address and against SDK Put of the same size (in the same run), and the
// set-up latency (dial to first byte) of a tunnelled connection against a
// direct one.
func BenchmarkTunnel(b *testing.B) {
	mb := int64(1024)
	if v, err := strconv.ParseInt(os.Getenv("TFFS_BENCH_TUNNEL_MB"), 10, 64); err == nil && v > 0 {
		mb = v
	}
	size := mb << 20
	env := testenv.Start(b)
	loc := env.Connect(b)
	ctx := context.Background()
	c, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Put(ctx, "/bin/tcpserve", tcpserve(b), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{{"tcpserve", "count", "7000"}, {"tcpserve", "say", "7001", "hi"}} {
		if _, err := c.Spawn(ctx, args); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.WaitTCP(ctx, 7000); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitTCP(ctx, 7001); err != nil {
		b.Fatal(err)
	}
	tun, err := c.AttachTunnel(ctx, 7000, 0)
	if err != nil {
		b.Fatal(err)
	}
	greet, err := c.AttachTunnel(ctx, 7001, 0)
	if err != nil {
		b.Fatal(err)
	}
	direct := net.JoinHostPort(c.IP(), "7000")
	directGreet := net.JoinHostPort(c.IP(), "7001")
	data := make([]byte, size)
	for i := 0; i < b.N; i++ {
		viaTunnel := sendCount(b, tun.Addr(), size)
		viaTCP := sendCount(b, direct, size)
		t0 := time.Now()
		if err := c.Put(ctx, "/tmp/big", data); err != nil {
			b.Fatal(err)
		}
		put := time.Since(t0)
		c.Run(ctx, "rm", "-f", "/tmp/big")
		reportRate(b, fmt.Sprintf("Tunnel %d MB, one connection", mb), "tunnel", size, viaTunnel, "direct-tcp", viaTCP, "put", put)
		var tl, dl []time.Duration
		for j := 0; j < rounds*2; j++ {
			tl = append(tl, firstByte(b, greet.Addr()))
			dl = append(dl, firstByte(b, directGreet))
		}
		report(b, "Tunnel connection set-up", median(tl), median(dl))
	}
}

// BenchmarkEndpoint measures requests per second through the web gateway
// (one client, sequential requests, a new connection each) against the
// same requests sent straight to the container's address.
func BenchmarkEndpoint(b *testing.B) {
	env := testenv.Start(b, func(c *location.Config) { c.HTTPListen = "127.0.0.1:0" })
	loc := env.Connect(b)
	ctx := context.Background()
	c, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("httpd", "-f", "-p", "80", "-h", "/www"),
		sdk.PreBootFile("/www/index.html", []byte("hello\n")))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.WaitTCP(ctx, 80); err != nil {
		b.Fatal(err)
	}
	if err := loc.Publish(ctx, "bench.example.test", c, 80); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	run := func(url, host string, n int) time.Duration {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Host = host
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("%s: %s", url, resp.Status)
			}
		}
		return time.Since(t0)
	}
	const n = 500
	for i := 0; i < b.N; i++ {
		gw := run("http://"+env.Loc.Master.HTTPAddr()+"/", "bench.example.test", n)
		direct := run("http://"+c.IP()+"/", "", n)
		rps := func(d time.Duration) float64 { return n / d.Seconds() }
		b.ReportMetric(rps(gw), "req/s-gateway")
		b.ReportMetric(rps(direct), "req/s-direct")
		fmt.Printf("%-34s tffs %6.0f req/s   direct %6.0f req/s   ratio %.2f×\n", "Endpoint requests (sequential)",
			rps(gw), rps(direct), rps(gw)/rps(direct))
	}
}

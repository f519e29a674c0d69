package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// canConnect reports whether from's wget reaches to's httpd on port 80.
func canConnect(t *testing.T, ctx context.Context, from, to *sdk.Container) bool {
	t.Helper()
	return canReach(t, ctx, from, to.Name, to.IP())
}

// canReach reports whether from's nc gets the page of httpd at ip.
func canReach(t *testing.T, ctx context.Context, from *sdk.Container, name, ip string) bool {
	t.Helper()
	out, code, err := from.Run(ctx, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 "+ip+" 80 2>&1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s → %s: code %d %q", from.Name, name, code, out)
	return code == 0 && strings.Contains(string(out), "page of")
}

var tcpserveOnce = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "tffs-tcpserve")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "tcpserve")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, "./testdata/tcpserve")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build tcpserve: %v: %s", err, out)
	}
	return os.ReadFile(bin)
})

// tcpserve is the static test server of testdata/tcpserve.
func tcpserve(t *testing.T) []byte {
	t.Helper()
	b, err := tcpserveOnce()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tcpserveContainer spawns a busybox container running tcpserve with each
// of the argument strings.
func tcpserveContainer(t *testing.T, ctx context.Context, loc *sdk.Location, name string, servers ...string) *sdk.Container {
	t.Helper()
	c, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "/bin/tcpserve", tcpserve(t), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if _, err := c.Spawn(ctx, strings.Fields("tcpserve "+s)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func httpd(t *testing.T, ctx context.Context, loc *sdk.Location, name string, opts ...sdk.SpawnOption) *sdk.Container {
	t.Helper()
	c, err := loc.Node().SpawnContainer(ctx, "busybox", append([]sdk.SpawnOption{sdk.Name(name),
		sdk.Command("httpd", "-f", "-p", "80", "-h", "/www"),
		sdk.PreBootFile("/www/index.html", []byte("page of "+name+"\n"))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTCP(ctx, 80); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNetIsolationAndFirewall(t *testing.T) {
	env := testenv.Start(t)
	ns := env.Namespace()
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 120*time.Second)
	a, b := httpd(t, ctx, loc, "a"), httpd(t, ctx, loc, "b")
	if a.IP() == "" || a.IP() == b.IP() {
		t.Fatalf("addresses a %q b %q", a.IP(), b.IP())
	}
	// /etc/hosts names the container; it has a default route.
	if out, _, _ := a.Run(ctx, "cat", "/etc/hosts"); !strings.Contains(string(out), a.IP()+"\ta") {
		t.Fatalf("/etc/hosts: %q", out)
	}
	if out, _, _ := a.Run(ctx, "ip", "route"); !strings.Contains(string(out), "default via") {
		t.Fatalf("routes: %q", out)
	}
	if canConnect(t, ctx, b, a) {
		t.Fatal("b reached a before a allowed it")
	}
	if err := a.AllowConnectionFrom(ctx, b); err != nil {
		t.Fatal(err)
	}
	if !canConnect(t, ctx, b, a) {
		t.Fatal("b cannot reach a after allow")
	}
	if canConnect(t, ctx, a, b) {
		t.Fatal("allow is one way: a reached b")
	}
	if err := a.DisallowConnectionFrom(ctx, b); err != nil {
		t.Fatal(err)
	}
	if canConnect(t, ctx, b, a) {
		t.Fatal("b reached a after disallow")
	}
	// Another session, and another account, never connect, and cannot allow.
	other := env.Connect(t)
	stranger := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "stranger")))
	if err := stranger.EnsureImage(ctx, busyboxImage(t), "busybox", nil); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*sdk.Location{other, stranger} {
		c := httpd(t, ctx, l, "c")
		if canConnect(t, ctx, c, a) {
			t.Fatal("a container of another session reached a")
		}
		if err := c.AllowConnectionFrom(ctx, a); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("allow of another session's container: %v", err)
		}
		if err := l.ContainerByID(a.ID).AllowConnectionFrom(ctx, c); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("another session changed a's firewall: %v", err)
		}
	}
	if canConnect(t, ctx, b, a) {
		t.Fatal("b reached a")
	}
	// The address is kept across reboot and reset.
	ip := a.IP()
	if err := a.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := a.Run(ctx, "ip", "-4", "addr", "show", "eth0"); !strings.Contains(string(out), ip+"/") {
		t.Fatalf("after reset: %q (want %s)", out, ip)
	}
	list, _ := loc.ListContainers(ctx)
	for _, ci := range list {
		if ci.Name == "a" && ci.IP != ip {
			t.Fatalf("listing: %+v", ci)
		}
	}
	if st := testenv.InspectNet(t, ns); st.Veths != 4 || st.Rules != 4 || st.Sets != 4 {
		t.Fatalf("network with 4 containers: %+v", st)
	}
	a.Destroy(ctx)
	if st := testenv.InspectNet(t, ns); st.Veths != 3 || st.Rules != 3 || st.Sets != 3 {
		t.Fatalf("network after a destroy: %+v", st)
	}
	loc.Close()
	other.Close()
	stranger.Close()
	testenv.Eventually(t, 30*time.Second, "network cleaned after the sessions end", func() bool {
		st := testenv.InspectNet(t, ns)
		return st.Veths == 0 && st.Rules == 0 && st.Sets == 0
	})
	if n := testenv.NetnsCount(ns); n != 0 {
		t.Fatalf("%d netns left", n)
	}
}

func TestTunnel(t *testing.T) {
	env := testenv.Start(t)
	ns := env.Namespace()
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 180*time.Second)
	// A sink that answers with the sha256 of what it got (after half-close),
	// and an echo server.
	c := tcpserveContainer(t, ctx, loc, "srv", "sha 7000", "echo 7001")
	for _, p := range []int{7000, 7001} {
		if err := c.WaitTCP(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	tun, err := c.AttachTunnel(ctx, 7000, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 100 MB through one connection, half-closed, answered after.
	data := make([]byte, 100<<20)
	rand.Read(data)
	sum := fmt.Sprintf("%x", sha256.Sum256(data))
	conn, err := net.Dial("tcp", tun.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(data); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(conn)
	conn.Close()
	if err != nil || !strings.HasPrefix(string(got), sum) {
		t.Fatalf("sink answered %q (%v), want %s", got, err, sum)
	}
	// 50 parallel connections to the echo server.
	echo, err := c.AttachTunnel(ctx, 7001, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg := bytes.Repeat([]byte(fmt.Sprintf("conn %d;", i)), 1000)
			conn, err := net.Dial("tcp", echo.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			go func() { conn.Write(msg); conn.(*net.TCPConn).CloseWrite() }()
			back, err := io.ReadAll(conn)
			if err != nil || !bytes.Equal(back, msg) {
				errs <- fmt.Errorf("conn %d: %d bytes back (%v)", i, len(back), err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A connection made before the server listens is retried.
	late, err := c.AttachTunnel(ctx, 7002, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		conn, err := net.Dial("tcp", late.Addr())
		if err != nil {
			done <- err.Error()
			return
		}
		defer conn.Close()
		b, _ := io.ReadAll(conn)
		done <- string(b)
	}()
	time.Sleep(500 * time.Millisecond) // the dial above waits for the server
	if _, err := c.Spawn(ctx, []string{"tcpserve", "say", "7002", "late"}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != "late\n" {
		t.Fatalf("late server: %q", got)
	}
	// Close ends open connections and refuses new ones.
	open, err := net.Dial("tcp", echo.Addr())
	if err != nil {
		t.Fatal(err)
	}
	open.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(open, buf); err != nil {
		t.Fatal(err)
	}
	echo.Close()
	open.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := open.Read(buf); err == nil {
		t.Fatal("connection open after Tunnel.Close")
	}
	if c2, err := net.Dial("tcp", echo.Addr()); err == nil {
		c2.Close()
		t.Fatal("closed tunnel accepted a connection")
	}
	// The tunnel ends with its container.
	c.Destroy(ctx)
	testenv.Eventually(t, 30*time.Second, "tunnel closed with its container", func() bool {
		c3, err := net.Dial("tcp", tun.Addr())
		if err == nil {
			c3.Close()
		}
		return err != nil
	})
	if st := testenv.InspectNet(t, ns); st.Veths != 0 || st.Rules != 0 {
		t.Fatalf("network after destroy: %+v", st)
	}
	_ = context.Background
}

func TestNetExternals(t *testing.T) {
	env := testenv.Start(t)
	ns := env.Namespace()
	owner, peer := env.Connect(t), env.Connect(t)
	ctx := testenv.Ctx(t, 120*time.Second)
	db := httpd(t, ctx, owner, "db", sdk.Tag("db"))
	cli := httpd(t, ctx, peer, "cli", sdk.Tag("cli"))
	ext, err := peer.External(ctx, "db")
	if err != nil || ext.IP != db.IP() || ext.Name != "db" {
		t.Fatalf("external db: %+v %v (db at %s)", ext, err, db.IP())
	}
	if o, err := peer.RefreshOffer(ctx); err != nil || len(o.Externals) != 1 || o.Externals[0].Tag != "db" {
		t.Fatalf("peer's offer: %+v %v", o.Externals, err)
	}
	if canReach(t, ctx, cli, "db", ext.IP) {
		t.Fatal("cli reached db before db's owner allowed it")
	}
	// Only db's owner changes db's firewall; it names cli by its tag.
	if err := peer.ContainerByID(db.ID).AllowConnectionFrom(ctx, cli); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("peer changed db's firewall: %v", err)
	}
	extCli, err := owner.External(ctx, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AllowConnectionFrom(ctx, extCli); err != nil {
		t.Fatal(err)
	}
	if !canReach(t, ctx, cli, "db", ext.IP) {
		t.Fatal("cli cannot reach db once allowed")
	}
	// Another account sees no externals of this one.
	stranger := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "stranger")))
	if _, err := stranger.External(ctx, "db"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("another account found db: %v", err)
	}
	// A container that goes is taken out of the firewalls that let it in.
	if st := testenv.InspectNet(t, ns); st.Allowed != 1 {
		t.Fatalf("allowed sources: %+v", st)
	}
	cli.Destroy(ctx)
	testenv.Eventually(t, 30*time.Second, "cli's address revoked from db's firewall", func() bool {
		return testenv.InspectNet(t, ns).Allowed == 0
	})
	if _, err := peer.External(ctx, "cli"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("destroyed external still found: %v", err)
	}
}

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node/network"
	"github.com/tffs/tffs/sdk"
)

// simHost is a host simulated in a network namespace: a veth to the test's
// bridge, and its own node daemon (with its own containerd).
type simHost struct {
	name, netns, addr string
	cmd               *exec.Cmd
	ns                string // the node's containerd namespace
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
	return string(out)
}

// TestNetLANAcrossHosts: two hosts simulated in network namespaces, each
// with its own node and containerd, form one LAN for containers: an
// allowed container on one reaches one on the other by its address, a
// disallowed one cannot, and nothing is left on either host afterwards.
func TestNetLANAcrossHosts(t *testing.T) {
	testenv.Require(t)
	bin := testenv.Binary(t)
	tag := fmt.Sprintf("%04x", os.Getpid()&0xffff)
	octet := 100 + os.Getpid()%100
	br := "tffs-tbr" + tag
	sh(t, "ip", "link", "add", br, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", br).Run() })
	sh(t, "ip", "addr", "add", fmt.Sprintf("172.31.%d.1/24", octet), "dev", br)
	sh(t, "ip", "link", "set", br, "up")

	env := testenv.Start(t, func(c *location.Config) { c.Listen = fmt.Sprintf("tcp://172.31.%d.1:*", octet) })
	port := env.Loc.Master.Addr()[strings.LastIndex(env.Loc.Master.Addr(), ":")+1:]
	var hosts []*simHost
	for i, h := range []string{"a", "b"} {
		sim := &simHost{name: "lan" + h, netns: "tffs-t" + tag + h, addr: fmt.Sprintf("172.31.%d.%d", octet, 2+i)}
		sim.ns = "tffs-" + sim.name + tag
		sh(t, "ip", "netns", "add", sim.netns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", sim.netns).Run() })
		veth := "tffs-tv" + tag + h
		sh(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", sim.netns)
		sh(t, "ip", "link", "set", veth, "master", br, "up")
		sh(t, "ip", "-n", sim.netns, "addr", "add", sim.addr+"/24", "dev", "eth0")
		sh(t, "ip", "-n", sim.netns, "link", "set", "eth0", "up")
		sh(t, "ip", "-n", sim.netns, "link", "set", "lo", "up")
		dir := filepath.Join(env.Dir, sim.name)
		key := strings.TrimSpace(sh(t, bin, "node", "--dir", dir, "--print-key"))
		if err := env.Loc.Master.AddNode(sim.name, key); err != nil {
			t.Fatal(err)
		}
		logf, _ := os.Create(filepath.Join(env.Dir, sim.name+".log"))
		sim.cmd = exec.Command("nsenter", "--net=/run/netns/"+sim.netns, bin, "node", "--name", sim.name, "--dir", dir,
			"--namespace", sim.ns, "--master", fmt.Sprintf("tcp://172.31.%d.1:%s", octet, port),
			"--master-key", env.Loc.Master.PublicKey(), "--addr", sim.addr)
		sim.cmd.Stdout, sim.cmd.Stderr = logf, logf
		if err := sim.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sim.cmd.Process.Signal(os.Interrupt)
			sim.cmd.Wait()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log:\n%s", sim.name, b)
			}
		})
		hosts = append(hosts, sim)
	}
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 3*time.Minute)
	testenv.Eventually(t, 60*time.Second, "both simulated hosts' nodes join", func() bool {
		_, ea := loc.NodeNamed("lana")
		_, eb := loc.NodeNamed("lanb")
		if ea != nil || eb != nil {
			loc.RefreshOffer(ctx)
		}
		return ea == nil && eb == nil
	})
	spawnOn := func(node, name string) *sdk.Container {
		n, err := loc.NodeNamed(node)
		if err != nil {
			t.Fatal(err)
		}
		c, err := n.SpawnContainer(ctx, "busybox", sdk.Name(name),
			sdk.Command("httpd", "-f", "-p", "80", "-h", "/www"),
			sdk.PreBootFile("/www/index.html", []byte("page of "+name+"\n")))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitTCP(ctx, 80); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := spawnOn("lana", "a"), spawnOn("lanb", "b")
	// Each node learns the other's subnet with its next hello.
	testenv.Eventually(t, 30*time.Second, "routes between the hosts", func() bool {
		out, _ := exec.Command("ip", "-n", hosts[0].netns, "route").CombinedOutput()
		out2, _ := exec.Command("ip", "-n", hosts[1].netns, "route").CombinedOutput()
		return strings.Contains(string(out), "via "+hosts[1].addr) && strings.Contains(string(out2), "via "+hosts[0].addr)
	})
	if canConnect(t, ctx, b, a) {
		t.Fatal("b reached a across hosts before a allowed it")
	}
	if err := a.AllowConnectionFrom(ctx, b); err != nil {
		t.Fatal(err)
	}
	if !canConnect(t, ctx, b, a) {
		t.Fatal("b cannot reach a across hosts once allowed")
	}
	if canConnect(t, ctx, a, b) {
		t.Fatal("a reached b across hosts: b allowed nothing")
	}
	if err := a.DisallowConnectionFrom(ctx, b); err != nil {
		t.Fatal(err)
	}
	if canConnect(t, ctx, b, a) {
		t.Fatal("b reached a after disallow")
	}
	loc.Close()
	// The nodes stop: nothing of the network is left on either host.
	for _, h := range hosts {
		h.cmd.Process.Signal(os.Interrupt)
		h.cmd.Wait()
		links := sh(t, "ip", "-n", h.netns, "-o", "link")
		for _, bad := range []string{network.BridgeName(h.ns), network.VethPrefix(h.ns)} {
			if strings.Contains(links, bad) {
				t.Errorf("%s: link %s left: %s", h.name, bad, links)
			}
		}
		if r := sh(t, "ip", "-n", h.netns, "route"); strings.Contains(r, "via") {
			t.Errorf("%s: routes left: %s", h.name, r)
		}
		if tabs := sh(t, "ip", "netns", "exec", h.netns, "nft", "list", "tables"); strings.TrimSpace(tabs) != "" {
			t.Errorf("%s: nftables left: %s", h.name, tabs)
		}
		if n := testenv.NetnsCount(h.ns + "+"); n != 0 {
			t.Errorf("%s: %d container netns left", h.name, n)
		}
	}
	_ = context.Background
}

// TestNetNodeKillLeavesNoNetwork: a node killed with SIGKILL leaves its
// containers' veths, firewall rules and sets behind; the node started again
// removes them all, and a node that stops cleanly leaves no bridge, table
// or namespace.
func TestNetNodeKillLeavesNoNetwork(t *testing.T) {
	env := testenv.Start(t, testenv.NoNode())
	bin := testenv.Binary(t)
	ctx := testenv.Ctx(t, 4*time.Minute)
	ns := fmt.Sprintf("tffs-tk%d", os.Getpid())
	nodeDir := filepath.Join(env.Dir, "nk")
	key := strings.TrimSpace(sh(t, bin, "node", "--dir", nodeDir, "--print-key"))
	if err := env.Loc.Master.AddNode("nk", key); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "node", "--name", "nk", "--dir", nodeDir, "--namespace", ns,
			"--master", env.Loc.Config.Master, "--master-key", env.Loc.Config.MasterKey)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	node := start()
	defer func() { node.Process.Signal(os.Interrupt); node.Wait() }()
	loc := env.Connect(t)
	testenv.Eventually(t, 60*time.Second, "node nk in the offer", func() bool {
		o, _ := loc.RefreshOffer(ctx)
		return len(o.Nodes) == 1
	})
	if _, err := loc.ImportImages(ctx, busyboxTar(t, env), nil); err != nil {
		t.Fatal(err)
	}
	a := httpd(t, ctx, loc, "a")
	b := httpd(t, ctx, loc, "b")
	if err := a.AllowConnectionFrom(ctx, b); err != nil {
		t.Fatal(err)
	}
	if st := testenv.InspectNet(t, ns); st.Veths != 2 || st.Rules != 2 || st.Sets != 2 || st.Allowed != 1 || st.Bridges != 1 {
		t.Fatalf("before the kill: %+v", st)
	}
	node.Process.Kill()
	node.Wait()
	node = start()
	testenv.Eventually(t, 60*time.Second, "the restarted node removed the killed one's network", func() bool {
		st := testenv.InspectNet(t, ns)
		return st.Veths == 0 && st.Rules == 0 && st.Sets == 0 && testenv.NetnsCount(ns+"+") == 0
	})
	// The node's network works again for a new container, then a clean
	// stop leaves nothing.
	testenv.Eventually(t, 30*time.Second, "the restarted node in the offer", func() bool {
		o, _ := loc.RefreshOffer(ctx)
		return len(o.Nodes) == 1
	})
	// A spawn sent before the restarted node said hello goes to the old
	// connection and is lost: try again with a deadline of its own.
	var c *sdk.Container
	for try := 0; c == nil; try++ {
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		var err error
		c, err = loc.Node().SpawnContainer(tctx, "busybox", sdk.Name(fmt.Sprintf("c%d", try)), sdk.Asleep())
		cancel()
		if err != nil && try == 3 {
			t.Fatalf("spawn after the restart: %v", err)
		}
	}
	if c.IP() == "" {
		t.Fatal("no address after the restart")
	}
	node.Process.Signal(os.Interrupt)
	node.Wait()
	if st := testenv.InspectNet(t, ns); st != (testenv.NetState{}) {
		t.Fatalf("after a clean stop: %+v", st)
	}
	if n := testenv.NetnsCount(ns + "+"); n != 0 {
		t.Fatalf("%d netns left", n)
	}
}

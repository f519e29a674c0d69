package network

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func mkNS(t *testing.T, name string) string {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	origin, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	h, err := netns.NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if err := netns.Set(origin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.DeleteNamed(name) })
	p := filepath.Join("/run/netns", name)
	inNS(p, func() (int, error) {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		return 0, err
	})
	return p
}

func TestAttachFirewallCleanup(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	ns := "tffs-t-net-" + short(t.Name()+time.Now().String(), 6)
	n := New(ns, nil)
	t.Cleanup(func() { n.Cleanup() })
	if err := n.Ensure("10.251.7.0/24", "10.251.0.0/16"); err != nil {
		t.Fatal(err)
	}
	pa, pb := mkNS(t, ns+"a"), mkNS(t, ns+"b")
	ipA, ipB := net.ParseIP("10.251.7.2"), net.ParseIP("10.251.7.3")
	if err := n.Attach("a", pa, ipA); err != nil {
		t.Fatal(err)
	}
	if err := n.Attach("b", pb, ipB); err != nil {
		t.Fatal(err)
	}
	ln, err := inNS(pa, func() (net.Listener, error) { return net.Listen("tcp", ":8000") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	dial := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		c, err := inNS(pb, func() (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", "10.251.7.2:8000")
		})
		if err == nil {
			c.Close()
		}
		return err
	}
	if dial() == nil {
		t.Fatal("b reached a before it was allowed")
	}
	if err := n.Allow("a", ipB, true); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Fatalf("allowed b cannot reach a: %v", err)
	}
	if err := n.Allow("a", ipB, false); err != nil {
		t.Fatal(err)
	}
	if dial() == nil {
		t.Fatal("b reached a after disallow")
	}
	// Containers open no connection to the node itself.
	host, err := net.Listen("tcp", "10.251.7.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go func() {
		for {
			c, err := host.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hctx, hcancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	if c, err := inNS(pb, func() (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(hctx, "tcp", host.Addr().String())
	}); err == nil {
		c.Close()
		t.Error("a container connected to the node's own address")
	}
	hcancel()
	// The node reaches a's port from inside a's namespace.
	c, err := DialTCP(context.Background(), pa, 8000)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := n.Detach("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(VethName(ns, "a")); err == nil {
		t.Fatal("veth of a left after Detach")
	}
	if err := n.Cleanup(); err != nil {
		t.Fatal(err)
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, VethPrefix(ns)) || l.Attrs().Name == BridgeName(ns) {
			t.Errorf("link %s left", l.Attrs().Name)
		}
	}
	c2, _ := nftables.New()
	tabs, _ := c2.ListTablesOfFamily(nftables.TableFamilyINet)
	for _, tb := range tabs {
		if tb.Name == TableName(ns) {
			t.Errorf("table %s left", tb.Name)
		}
	}
}

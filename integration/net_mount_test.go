package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// TestNetMount runs DESIGN.md's shell session through its tunnel and curl
// lines on the mount, with the network verbs of ctl.
func TestNetMount(t *testing.T) {
	requireFUSE(t)
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl missing")
		}
		t.Skip("curl missing")
	}
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := t.TempDir()
	m, err := tffsfs.Mount(context.Background(), loc, mnt, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	runScript(t, 3*time.Minute, "net_session.sh", mnt)

	// externals/: a tagged container of another session of the account,
	// let in with `allow externals/TAG`.
	ctx := testenv.Ctx(t, 2*time.Minute)
	peer := env.Connect(t)
	p := httpd(t, ctx, peer, "p", sdk.Tag("peer"))
	if b, err := os.ReadFile(filepath.Join(mnt, "externals", "peer", "ip")); err != nil || strings.TrimSpace(string(b)) != p.IP() {
		t.Fatalf("externals/peer/ip: %q %v (want %s)", b, err, p.IP())
	}
	if ents, err := os.ReadDir(filepath.Join(mnt, "externals")); err != nil || len(ents) != 1 || ents[0].Name() != "peer" {
		t.Fatalf("externals/: %v %v", ents, err)
	}
	srv := filepath.Join(mnt, "nodes", "any", "srv")
	write := func(name, s string) error { return os.WriteFile(filepath.Join(srv, name), []byte(s), 0o644) }
	if err := os.Mkdir(srv, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"image", "busybox\n"},
		{"cmd", `sh -c "mkdir -p /www && echo page of srv > /www/index.html && exec httpd -f -p 80 -h /www"` + "\n"},
		{"ctl", "start\n"}} {
		if err := write(kv[0], kv[1]); err != nil {
			t.Fatalf("%s: %v", kv[0], err)
		}
	}
	ipb, _ := os.ReadFile(filepath.Join(srv, "ip"))
	ip := strings.TrimSpace(string(ipb))
	if !srvUp(t, ctx, loc, "srv") {
		t.Fatal("srv's httpd does not answer")
	}
	if canReach(t, ctx, p, "srv", ip) {
		t.Fatal("the external reached srv before srv allowed it")
	}
	if err := write("ctl", "allow externals/peer\n"); err != nil {
		t.Fatal(err)
	}
	if !canReach(t, ctx, p, "srv", ip) {
		t.Fatal("the external cannot reach srv once allowed")
	}
	if err := write("ctl", "allow externals/nosuch\n"); err == nil {
		t.Fatal("allow of an unknown external succeeded")
	}
	peer.Close()
	m.Unmount()
	testenv.Eventually(t, 30*time.Second, "network cleaned after unmount", func() bool {
		st := testenv.InspectNet(t, env.Namespace())
		return st.Veths == 0 && st.Rules == 0 && st.Sets == 0
	})
}

// srvUp waits for the httpd of the session's container name.
func srvUp(t *testing.T, ctx context.Context, loc *sdk.Location, name string) bool {
	t.Helper()
	for _, c := range loc.Containers() {
		if c.Name == name {
			return c.WaitTCP(ctx, 80) == nil
		}
	}
	return false
}

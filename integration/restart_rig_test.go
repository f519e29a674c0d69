package integration

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// restartRig runs a master and a node as separate `tffs` processes (so
// either can be killed with SIGKILL and started again on the same
// directory and port) over a containerd of the test, with a client
// directory (TFFS_DIR) whose key is an account of the master.
type restartRig struct {
	t                       *testing.T
	dir, masterDir, nodeDir string
	clientDir               string
	listen, masterKey, ns   string
	ctd                     *runtime.Daemon
	timeout                 time.Duration
	master, node            *tffsProc
	masterArgs              []string // more flags for the master, set before a restart
}

const rigLocation = "rig"

func startRestartRig(t *testing.T, sessionTimeout time.Duration) *restartRig {
	t.Helper()
	testenv.Require(t)
	dir, err := os.MkdirTemp("/tmp", "tffs-rs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctd, err := runtime.StartContainerd(testenv.Ctx(t, time.Minute), filepath.Join(dir, "ctd"), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctd.Stop() })
	r := &restartRig{t: t, dir: dir, masterDir: filepath.Join(dir, "m"), nodeDir: filepath.Join(dir, "n"),
		clientDir: filepath.Join(dir, "c"), ctd: ctd, timeout: sessionTimeout, ns: "tffs-" + filepath.Base(dir)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.listen = "tcp://" + l.Addr().String()
	l.Close()
	r.startMaster()
	r.masterKey = regexp.MustCompile(`public key (\S+)`).FindStringSubmatch(r.master.output())[1]

	nodeKey := strings.TrimSpace(mustTffs(t, r.clientDir, "node", "--dir", r.nodeDir, "--print-key"))
	mustTffs(t, r.clientDir, "node", "register", "n1", nodeKey, "--dir", r.masterDir)
	ck, err := sdk.ClientKey(r.clientDir)
	if err != nil {
		t.Fatal(err)
	}
	mustTffs(t, r.clientDir, "account", "add", "--dir", r.masterDir, "--", "me", ck.Public) // "--": a key may begin with "-"
	if err := sdk.WriteConfig(r.clientDir, sdk.LocationConfig{Name: rigLocation, Master: r.listen, MasterKey: r.masterKey}); err != nil {
		t.Fatal(err)
	}
	if err := sdk.SetDefaultLocation(r.clientDir, rigLocation); err != nil {
		t.Fatal(err)
	}
	r.startNode()
	t.Cleanup(func() { // the node stops cleanly: it destroys what it runs
		if r.node != nil && !r.node.exited() {
			r.node.signal(t, syscall.SIGCONT)
			r.node.signal(t, syscall.SIGTERM)
			r.node.wait(t, time.Minute)
		}
	})
	return r
}

// startMaster starts (or restarts) the master and waits until it listens.
func (r *restartRig) startMaster() {
	r.t.Helper()
	args := append([]string{"master", "--dir", r.masterDir, "--listen", r.listen,
		"--session-timeout", r.timeout.String()}, r.masterArgs...)
	r.master = startTffs(r.t, r.clientDir, args...)
	r.master.waitOutput(r.t, 30*time.Second, "public key ")
	testenv.Eventually(r.t, 30*time.Second, "the admin socket", func() bool {
		_, err := os.Stat(filepath.Join(r.masterDir, "admin.sock"))
		return err == nil
	})
}

// killMaster kills the master with SIGKILL.
func (r *restartRig) killMaster() {
	r.t.Helper()
	r.master.signal(r.t, syscall.SIGKILL)
	r.master.wait(r.t, 10*time.Second)
}

func (r *restartRig) startNode() {
	r.t.Helper()
	r.node = startTffs(r.t, r.clientDir, "node", "--name", "n1", "--dir", r.nodeDir, "--master", r.listen,
		"--master-key", r.masterKey, "--containerd", r.ctd.Socket(), "--namespace", r.ns)
}

// connect opens an SDK session as the rig's account, closed at cleanup.
func (r *restartRig) connect(opts ...sdk.Option) *sdk.Location {
	r.t.Helper()
	opts = append([]sdk.Option{sdk.WithDir(r.clientDir), sdk.WithLocation(rigLocation)}, opts...)
	loc, err := sdk.Connect(testenv.Ctx(r.t, 20*time.Second), opts...)
	if err != nil {
		r.t.Fatalf("connect: %v", err)
	}
	r.t.Cleanup(func() { loc.Close() })
	ctx := testenv.Ctx(r.t, 30*time.Second)
	testenv.Eventually(r.t, 30*time.Second, "node n1 in the offer", func() bool {
		o, _ := loc.RefreshOffer(ctx)
		return len(o.Nodes) == 1
	})
	return loc
}

// containers counts the containers of the rig's namespace in containerd.
func (r *restartRig) containers() int {
	return testenv.Inspect(r.t, r.ctd.Socket(), r.ns).Containers
}

var _ = protocol.ErrInvalid

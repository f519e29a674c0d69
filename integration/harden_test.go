package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/sdk"
)

const (
	hardenPids   = 64
	hardenMemory = 200 << 20
)

// hardenedEnv is a location whose node has a small pids limit and a
// default memory limit of its own, and trusts no image.
func hardenedEnv(t *testing.T, trusted ...string) *testenv.Env {
	return testenv.Start(t, testenv.NodeConfig(func(c *node.Config) {
		c.Hardening = runtime.Hardening{PidsLimit: hardenPids, Memory: hardenMemory}
		c.TrustedImages = trusted
	}))
}

// run runs a command in ctr and returns its stdout; a non-zero exit fails the test.
func run(t *testing.T, ctx context.Context, ctr *sdk.Container, args ...string) string {
	t.Helper()
	res, err := ctr.RunFull(ctx, args)
	if err != nil || res.Code != 0 {
		t.Fatalf("%v: code %d err %v stdout %q stderr %q", args, res.Code, err, res.Stdout, res.Stderr)
	}
	return string(res.Stdout)
}

// hostPid is the node's pid of the container's main process.
func hostPid(t *testing.T, env *testenv.Env, ctr *sdk.Container) int {
	t.Helper()
	c, err := containerd.New(env.Loc.Node.ContainerdSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), env.Namespace())
	cc, err := c.LoadContainer(ctx, ctr.ID)
	if err != nil {
		t.Fatal(err)
	}
	task, err := cc.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return int(task.Pid())
}

// statusField returns a field of /proc/<pid>/status.
func statusField(t *testing.T, pid int, field string) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.Fields(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return nil
}

// cgroupFile reads a file of the pid's cgroup v1 controller dir.
func cgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ","+controller+",") {
			v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, parts[2], file))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(v))
		}
	}
	t.Fatalf("pid %d has no %s cgroup", pid, controller)
	return ""
}

func TestHardenedByDefault(t *testing.T) {
	env := hardenedEnv(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}

	if got := run(t, ctx, ctr, "grep", "Seccomp:", "/proc/self/status"); strings.Fields(got)[1] != "2" {
		t.Errorf("seccomp: %q, want filter mode 2", got)
	}
	uidMap := strings.Fields(run(t, ctx, ctr, "cat", "/proc/self/uid_map"))
	if len(uidMap) != 3 || uidMap[0] != "0" || uidMap[1] != strconv.Itoa(runtime.DefaultUIDStart) || uidMap[2] != strconv.Itoa(runtime.DefaultUIDSize) {
		t.Errorf("uid_map %q, want 0 %d %d", uidMap, runtime.DefaultUIDStart, runtime.DefaultUIDSize)
	}
	if got := strings.TrimSpace(run(t, ctx, ctr, "id", "-u")); got != "0" {
		t.Errorf("id -u in the container: %q, want 0", got)
	}
	pid := hostPid(t, env, ctr)
	if uids := statusField(t, pid, "Uid"); uids[0] != strconv.Itoa(runtime.DefaultUIDStart) || uids[1] == "0" {
		t.Errorf("host uids of the container's root: %v, want %d", uids, runtime.DefaultUIDStart)
	}
	capBnd, _ := strconv.ParseUint(statusField(t, pid, "CapBnd")[0], 16, 64)
	for name, bit := range map[string]uint{"CAP_MKNOD": 27, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21} {
		if capBnd&(1<<bit) != 0 {
			t.Errorf("%s in the bounding set %x", name, capBnd)
		}
	}
	if res, err := ctr.RunFull(ctx, []string{"mknod", "/tmp/x", "c", "1", "3"}); err != nil || res.Code == 0 {
		t.Errorf("mknod in a default container: code %d err %v, want a failure", res.Code, err)
	}
	if got := cgroupFile(t, pid, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(hardenMemory) {
		t.Errorf("default memory limit %s, want %d", got, hardenMemory)
	}
	if got := cgroupFile(t, pid, "pids", "pids.max"); got != strconv.Itoa(hardenPids) {
		t.Errorf("pids.max %s, want %d", got, hardenPids)
	}
	// An explicit memory limit wins over the node's default.
	big, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Memory(300<<20))
	if err != nil {
		t.Fatal(err)
	}
	if got := cgroupFile(t, hostPid(t, env, big), "memory", "memory.limit_in_bytes"); got != strconv.Itoa(300<<20) {
		t.Errorf("asked memory limit %s, want %d", got, 300<<20)
	}

	// Relaxing needs an image the node trusts.
	_, err = loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Trusted())
	if !errors.Is(err, sdk.ErrPermission) {
		t.Errorf("Trusted() on an untrusted image: %v, want ErrPermission", err)
	}
	_, err = loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.AddCapabilities("CAP_MKNOD"))
	if !errors.Is(err, sdk.ErrPermission) {
		t.Errorf("AddCapabilities on an untrusted image: %v, want ErrPermission", err)
	}
}

func TestPidsLimitContainsForkBomb(t *testing.T) {
	env := hardenedEnv(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	bomb, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	other, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		t.Fatal(err)
	}
	// Bounded: without a limit it would leave 500 sleeps. With the limit
	// a fork fails and the shell gives up.
	res, err := bomb.RunFull(ctx, []string{"sh", "-c", "for i in $(seq 500); do sleep 600 & done"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bomb: code %d stderr %q", res.Code, res.Stderr)
	if res.Code == 0 || !strings.Contains(string(res.Stderr), "fork") {
		t.Errorf("fork bomb: code %d stderr %q, want a failed fork", res.Code, res.Stderr)
	}
	pid := hostPid(t, env, bomb)
	if cur, _ := strconv.Atoi(cgroupFile(t, pid, "pids", "pids.current")); cur > hardenPids || cur < hardenPids/2 {
		t.Errorf("pids.current %d, want the bomb's sleeps up to the limit %d", cur, hardenPids)
	}
	if ev := cgroupFile(t, pid, "pids", "pids.events"); ev == "max 0" {
		t.Errorf("pids.events %q: no fork was refused", ev)
	}
	// The node and other containers are unaffected.
	if got := run(t, ctx, other, "echo", "alive"); got != "alive\n" {
		t.Errorf("other container: %q", got)
	}
	if err := bomb.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("true")); err != nil {
		t.Errorf("spawn after the bomb: %v", err)
	}
}

func TestNodeWrittenFilesOwnedByContainerRoot(t *testing.T) {
	env := hardenedEnv(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(),
		sdk.PreBootFile("/etc/pre.txt", []byte("pre\n")),
		sdk.PreBootFile("/new/dir/pre.txt", []byte("pre\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctr.Put(ctx, "/tmp/put.txt", []byte("put\n")); err != nil {
		t.Fatal(err)
	}
	if err := ctr.Put(ctx, "/a/b/put.txt", []byte("put\n")); err != nil {
		t.Fatal(err)
	}
	if err := ctr.Mkdir(ctx, "/m/n", 0o755); err != nil {
		t.Fatal(err)
	}
	paths := []string{"/etc/pre.txt", "/new", "/new/dir", "/new/dir/pre.txt", "/tmp/put.txt", "/a", "/a/b", "/a/b/put.txt", "/m", "/m/n"}
	out := run(t, ctx, ctr, append([]string{"stat", "-c", "%n %u:%g"}, paths...)...)
	t.Logf("stat:\n%s", out)
	for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(l, " 0:0") {
			t.Errorf("%s: owner %q, want 0:0 (container root)", paths[i], l)
		}
	}
	// The container's root can change them (it has no power over files of
	// host root, which it sees as nobody).
	script := "set -e; for f in /etc/pre.txt /new/dir/pre.txt /tmp/put.txt /a/b/put.txt; do echo more >> $f; done; " +
		"touch /new/dir/x /a/b/x /m/n/x; chmod 600 /etc/pre.txt; rm -r /a"
	run(t, ctx, ctr, "sh", "-c", script)
	// Also on the mounted snapshot of a stopped container.
	if err := ctr.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if got := run(t, ctx, ctr, "cat", "/etc/pre.txt"); got != "pre\nmore\n" {
		t.Errorf("after reboot /etc/pre.txt = %q", got)
	}
}

func TestTrustedImageRelaxes(t *testing.T) {
	env := hardenedEnv(t, "*")
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 2*time.Minute)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.Trusted())
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, ctr, "mknod", "/tmp/x", "c", "1", "3")
	if got := run(t, ctx, ctr, "grep", "Seccomp:", "/proc/self/status"); strings.Fields(got)[1] != "0" {
		t.Errorf("seccomp of a trusted container: %q, want 0", got)
	}
	if uids := statusField(t, hostPid(t, env, ctr), "Uid"); uids[0] != "0" {
		t.Errorf("host uid of a trusted container's root: %v, want 0", uids)
	}
	// One relaxation alone: the capability, still in a user namespace.
	capOnly, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.AddCapabilities("CAP_NET_RAW"))
	if err != nil {
		t.Fatal(err)
	}
	pid := hostPid(t, env, capOnly)
	capBnd, _ := strconv.ParseUint(statusField(t, pid, "CapBnd")[0], 16, 64)
	if capBnd&(1<<13) == 0 || capBnd&(1<<27) != 0 {
		t.Errorf("AddCapabilities(CAP_NET_RAW): bounding set %x", capBnd)
	}
	if uids := statusField(t, pid, "Uid"); uids[0] == "0" {
		t.Errorf("AddCapabilities alone left the user namespace: uid %v", uids)
	}
	if _, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep(), sdk.AddCapabilities("CAP_BOGUS")); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("unknown capability: %v, want ErrInvalid", err)
	}
}

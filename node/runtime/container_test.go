package runtime

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRunExitCodeAndOutput(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c := create(t, r, Spec{ID: "run1", Args: []string{"sh", "-c", "echo hi; echo err >&2; exit 3"}})
	var out, errb bytes.Buffer
	if err := c.Start(ctx, &out, &errb); err != nil {
		t.Fatal(err)
	}
	code, err := c.Wait(ctx)
	if err != nil || code != 3 {
		t.Fatalf("wait = %d, %v; want 3", code, err)
	}
	select {
	case <-c.Exited():
	default:
		t.Fatal("Exited not closed after Wait")
	}
	if out.String() != "hi\n" || errb.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	if c.Pid() != 0 {
		t.Fatalf("pid %d after exit", c.Pid())
	}
	// A second Start runs it again on the same filesystem.
	out.Reset()
	if err := c.Start(ctx, &out, nil); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.Wait(ctx); code != 3 || out.String() != "hi\n" {
		t.Fatalf("second run: %d %q", code, out.String())
	}
}

func TestSpecPrebootEnvHostnameNetns(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c := create(t, r, Spec{
		ID:       "spec1",
		Args:     []string{"sh", "-c", "cat /etc/preboot.txt; echo FOO=$FOO IMG=$IMAGE_VAR; hostname; pwd; cat /proc/net/dev | wc -l; ls -l /bin/secret.sh"},
		Env:      []string{"FOO=bar", "IMAGE_VAR=overridden"},
		Hostname: "box1",
		Cwd:      "/tmp",
		CPUs:     0.5,
		Memory:   64 << 20,
		Files: []File{
			{Path: "/etc/preboot.txt", Data: []byte("preboot-ok\n")},
			{Path: "/bin/secret.sh", Mode: 0o750, Data: []byte("#!/bin/sh\n")},
		},
	})
	var out, errb bytes.Buffer
	if err := c.Start(ctx, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if code, err := c.Wait(ctx); code != 0 || err != nil {
		t.Fatalf("exit %d %v, stderr %q", code, err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// /proc/net/dev has 2 header lines + lo only.
	want := []string{"preboot-ok", "FOO=bar IMG=overridden", "box1", "/tmp", "3"}
	if len(lines) != 6 || strings.Join(lines[:5], "|") != strings.Join(want, "|") || !strings.HasPrefix(lines[5], "-rwxr-x---") {
		t.Fatalf("output %q", out.String())
	}
}

func TestCreateErrors(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	if _, err := r.Create(ctx, Spec{ID: "bad/id"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := r.Create(ctx, Spec{ID: "noimg", Image: "does-not-exist"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing image: %v", err)
	}
	if _, err := os.Stat(NetnsPathForTest(r, "noimg")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("netns left after failed create: %v", err)
	}
	if _, err := r.Create(ctx, Spec{ID: "relfile", Image: "busybox", Files: []File{{Path: "etc/x"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("relative pre-boot path: %v", err)
	}
	c := create(t, r, Spec{ID: "dup"})
	if _, err := r.Create(ctx, Spec{ID: "dup", Image: "busybox"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if got, ok := r.Get("dup"); !ok || got != c {
		t.Fatal("Get(dup) did not return the container")
	}
	if _, err := c.Exec(ctx, ExecSpec{Args: []string{"true"}}); !errors.Is(err, ErrBusy) {
		t.Fatalf("exec before start: %v", err)
	}
	if _, err := c.Wait(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("wait before start: %v", err)
	}
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	// Default command is the image's sh with no stdin: exits at once.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if code, err := c.Wait(wctx); err != nil || code != 0 {
		t.Fatalf("image default cmd: %d %v", code, err)
	}
}

func TestCgroupLimits(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c := create(t, r, Spec{ID: "limits1", Asleep: true, CPUs: 0.5, Memory: 64 << 20})
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(int(c.Pid())) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		f := strings.SplitN(l, ":", 3)
		for _, ctl := range strings.Split(f[1], ",") {
			paths[ctl] = f[2]
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read("/sys/fs/cgroup/memory" + paths["memory"] + "/memory.limit_in_bytes"); got != "67108864" {
		t.Fatalf("memory limit %s", got)
	}
	if got := read("/sys/fs/cgroup/cpu" + paths["cpu"] + "/cpu.cfs_quota_us"); got != "50000" {
		t.Fatalf("cpu quota %s", got)
	}
}

// NetnsPathForTest is the netns path a container id would get.
func NetnsPathForTest(r *Runtime, id string) string { return netnsDir + "/" + r.netnsName(id) }

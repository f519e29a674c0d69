package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func owners(t *testing.T, p string) (uint32, uint32, os.FileMode) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid, fileMode(st.Mode)
}

func TestShiftOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	h := Hardening{UIDStart: 100000, UIDSize: 65536}
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "d/e"), 0o755))
	must(os.WriteFile(filepath.Join(root, "d/suid"), []byte("x"), 0o755))
	must(os.Chown(filepath.Join(root, "d/suid"), 1000, 50))
	must(os.Chmod(filepath.Join(root, "d/suid"), 0o755|os.ModeSetuid|os.ModeSetgid))
	must(os.Link(filepath.Join(root, "d/suid"), filepath.Join(root, "d/e/hard")))
	outside := filepath.Join(t.TempDir(), "outside")
	must(os.WriteFile(outside, nil, 0o644))
	must(os.Symlink(outside, filepath.Join(root, "d/link")))

	must(shiftOwners(root, h))
	for p, want := range map[string][2]uint32{
		"": {100000, 100000}, "d": {100000, 100000}, "d/e": {100000, 100000},
		"d/suid": {101000, 100050}, "d/e/hard": {101000, 100050}, "d/link": {100000, 100000},
	} {
		if uid, gid, _ := owners(t, filepath.Join(root, p)); uid != want[0] || gid != want[1] {
			t.Errorf("/%s owned by %d:%d, want %d:%d", p, uid, gid, want[0], want[1])
		}
	}
	if _, _, mode := owners(t, filepath.Join(root, "d/suid")); mode&(os.ModeSetuid|os.ModeSetgid) != os.ModeSetuid|os.ModeSetgid {
		t.Errorf("setuid/setgid lost: %v", mode)
	}
	if uid, _, _ := owners(t, outside); uid != 0 {
		t.Errorf("symlink target outside the tree was changed: uid %d", uid)
	}

	bad := t.TempDir()
	must(os.WriteFile(filepath.Join(bad, "f"), nil, 0o644))
	must(os.Chown(filepath.Join(bad, "f"), 70000, 0))
	if err := shiftOwners(bad, h); !errors.Is(err, ErrInvalid) {
		t.Errorf("owner outside the range: %v, want ErrInvalid", err)
	}
	if uid, _, _ := owners(t, bad); uid != 0 {
		t.Errorf("a refused tree was changed: root uid %d", uid)
	}
}

func TestRelaxCheck(t *testing.T) {
	if err := (Relax{Caps: []string{"CAP_MKNOD", "CAP_SYS_PTRACE"}}).Check(); err != nil {
		t.Error(err)
	}
	for _, c := range []string{"MKNOD", "CAP_BOGUS", "cap_mknod", ""} {
		if err := (Relax{Caps: []string{c}}).Check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", c, err)
		}
	}
}

func TestHardenedSpec(t *testing.T) {
	r := env(t)
	ctx := r.nsCtx(tctx(t))
	for _, tc := range []struct {
		relax      Relax
		userns     bool
		seccomp    bool
		mknod, raw bool
	}{
		{Relax{}, true, true, false, false},
		{Relax{Caps: []string{"CAP_NET_RAW"}}, true, true, false, true},
		{Relax{HostUsers: true, NoSeccomp: true, Caps: []string{"CAP_MKNOD"}}, false, false, true, false},
	} {
		c := create(t, r, Spec{ID: fmt.Sprintf("hard%d", len(tc.relax.Caps)+btoi(tc.relax.HostUsers)*2), Asleep: true, Relax: tc.relax})
		s, err := c.ctr.Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var userns string
		hasUserns := false
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.UserNamespace {
				hasUserns, userns = true, ns.Path
			}
		}
		if hasUserns != tc.userns || tc.userns && (userns != filepath.Join(usernsDir, c.NetNSName()) ||
			len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0].HostID != r.hard.UIDStart) {
			t.Errorf("%+v: user namespace %v %q maps %v", tc.relax, hasUserns, userns, s.Linux.UIDMappings)
		}
		if (s.Linux.Seccomp != nil) != tc.seccomp || tc.seccomp && len(s.Linux.Seccomp.Architectures) != 1 {
			t.Errorf("%+v: seccomp %+v", tc.relax, s.Linux.Seccomp != nil)
		}
		caps := s.Process.Capabilities.Bounding
		if slices.Contains(caps, "CAP_MKNOD") != tc.mknod || slices.Contains(caps, "CAP_NET_RAW") != tc.raw || slices.Contains(caps, "CAP_SYS_ADMIN") {
			t.Errorf("%+v: capabilities %v", tc.relax, caps)
		}
		res := s.Linux.Resources
		if res.Pids == nil || *res.Pids.Limit != DefaultPidsLimit || res.Memory == nil || *res.Memory.Limit != DefaultMemory {
			t.Errorf("%+v: resources %+v", tc.relax, res)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

package integration

import (
	"strings"
	"testing"

	"github.com/tffs/tffs/internal/testenv"
)

// TestRunCommandVolume: `tffs run -m VOL:/path[:ro]` mounts a volume of the
// account (by name or tag); what one run writes the next reads; a
// read-only mount refuses writes; an unknown volume or a bad spec is one
// line and exit 1.
func TestRunCommandVolume(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Loc.Config.Name
	mustTffs(t, env.ClientDir, "volume", "--location", loc, "create", "runvol", "--tag", "rv")
	if out, stderr, code := tffsRun(t, env, nil, "run", "-m", "runvol:/data", "busybox", "sh", "-c", "echo kept > /data/x"); code != 0 {
		t.Fatalf("write run: code %d %q %q", code, out, stderr)
	}
	out, stderr, code := tffsRun(t, env, nil, "run", "-m", "rv:/srv:ro", "busybox", "sh", "-c", "cat /srv/x; touch /srv/y 2>/dev/null && echo writable || echo refused")
	if code != 0 || out != "kept\nrefused\n" {
		t.Fatalf("read-only run: code %d stdout %q stderr %q", code, out, stderr)
	}
	for _, args := range [][]string{
		{"run", "-m", "nosuchvol:/data", "busybox", "true"},
		{"run", "-m", "runvol:relative", "busybox", "true"},
		{"run", "-m", "runvol:/data:rx", "busybox", "true"},
	} {
		_, stderr, code := tffsRun(t, env, nil, args...)
		if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "tffs: ") {
			t.Fatalf("tffs %v: code %d stderr %q, want exit 1 and one line", args, code, stderr)
		}
	}
}

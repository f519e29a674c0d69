package integration

import (
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
)

// TestMountWriteBehind drives testdata/write_behind.py: writes through
// files/ are pipelined, yet close and fsync see them in the container and
// report a write that failed there; overlapping writes land in order;
// reads, streamed or not, give the file's bytes at every offset.
func TestMountWriteBehind(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := mountAt(t, loc)
	runScript(t, 4*time.Minute, "write_behind.py", mnt)
	testenv.Eventually(t, 30*time.Second, "the container gone", func() bool {
		st := testenv.Inspect(t, env.Loc.ContainerdSocket(), env.Namespace())
		return st.Containers == 0 && st.Tasks == 0 && st.Snapshots == 0
	})
}

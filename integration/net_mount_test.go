package integration

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/testenv"
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
	m.Unmount()
	testenv.Eventually(t, 30*time.Second, "network cleaned after unmount", func() bool {
		st := testenv.InspectNet(t, env.Namespace())
		return st.Veths == 0 && st.Rules == 0 && st.Sets == 0
	})
}

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
)

// TestSystemdUnits: `tffs systemd master|node` and `tffs run --systemd`
// write units that systemd-analyze verify accepts (where it exists), and
// the master's config file is one `tffs master --config` runs with.
func TestSystemdUnits(t *testing.T) {
	dir := t.TempDir()
	units, conf := filepath.Join(dir, "units"), filepath.Join(dir, "etc")
	masterDir := filepath.Join(dir, "master")
	out := mustTffs(t, dir, "systemd", "master", "--unit-dir", units, "--config-dir", conf, "--",
		"--listen", "tcp://127.0.0.1:*", "--dir", masterDir, "--max-containers", "7")
	if !strings.Contains(out, filepath.Join(units, "tffs-master.service")) {
		t.Fatalf("systemd master printed %q", out)
	}
	mustTffs(t, dir, "systemd", "node", "--unit-dir", units, "--config-dir", conf, "--", "--name", "n1", "--master", "127.0.0.1:2020")
	mustTffs(t, dir, "run", "--systemd", "--unit-dir", units, "--name", "web app", "-e", "A=b c", "busybox", "sh", "-c", "echo $HOME 100%")
	unit, err := os.ReadFile(filepath.Join(units, "tffs-run-web-app.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Restart=always", `--name "web app" -e "A=b c" busybox sh -c "echo $$HOME 100%%"`, "Environment=TFFS_DIR=" + dir} {
		if !strings.Contains(string(unit), want) {
			t.Fatalf("run unit lacks %q:\n%s", want, unit)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		files, _ := filepath.Glob(filepath.Join(units, "*.service"))
		if len(files) != 3 {
			t.Fatalf("units: %v", files)
		}
		args := append([]string{"verify", "--man=no"}, files...)
		if out, err := exec.Command("systemd-analyze", args...).CombinedOutput(); err != nil || strings.Contains(string(out), ".service") {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	// The master runs with the config written for it.
	p := startTffs(t, dir, "master", "--config", filepath.Join(conf, "master.json"))
	p.waitOutput(t, 30*time.Second, "public key ")
	testenv.Eventually(t, 30*time.Second, "the admin socket", func() bool {
		_, err := os.Stat(filepath.Join(masterDir, "admin.sock"))
		return err == nil
	})
}

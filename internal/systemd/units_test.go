package systemd

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnitText(t *testing.T) {
	u := Unit{Name: "tffs-run-x", Description: "tffs run x", Exec: []string{"/usr/bin/tffs", "run", "-e", "A=b c", "busybox", "sh", "-c", "echo $HOME 100%"}, Env: []string{"TFFS_DIR=/root/.tffs"}}
	txt := u.Text()
	for _, want := range []string{
		`ExecStart=/usr/bin/tffs run -e "A=b c" busybox sh -c "echo $$HOME 100%%"`,
		"Restart=always", "Environment=TFFS_DIR=/root/.tffs", "WantedBy=multi-user.target",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("unit lacks %q:\n%s", want, txt)
		}
	}
	if UnitName("tffs-run-", "my app/v1") != "tffs-run-my-app-v1" {
		t.Error(UnitName("tffs-run-", "my app/v1"))
	}
}

// TestUnitVerifies runs systemd-analyze verify on a written unit (where
// systemd-analyze exists).
func TestUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze")
	}
	dir := t.TempDir()
	bin, _ := exec.LookPath("true")
	u := Unit{Name: "tffs-test", Description: "test", Exec: []string{bin, "run", "-e", "A=b c", "busybox", "echo", "$x 5%"}}
	p, err := u.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), filepath.Base(p)) {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestRunUnitDropsItsOwnFlags(t *testing.T) {
	u := RunUnit("/bin/tffs", "web", []string{"run", "--systemd", "--unit-dir", "/x", "--unit-dir=/y", "busybox", "echo", "--systemd"}, "/root/.tffs")
	want := []string{"/bin/tffs", "run", "busybox", "echo", "--systemd"}
	if strings.Join(u.Exec, " ") != strings.Join(want, " ") || u.Name != "tffs-run-web" {
		t.Fatalf("RunUnit = %q %v", u.Name, u.Exec)
	}
}

package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// sshRig is `tffs run -z --ssh 0` and an OpenSSH client key it admits.
type sshRig struct {
	dir, key, other, port string
}

func (r *sshRig) opts(key string) []string {
	return []string{"-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"}
}

// ssh runs the system's ssh client with args and returns its combined
// output and exit code.
func (r *sshRig) run(t *testing.T, stdin string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(testenv.Ctx(t, 60*time.Second), name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func (r *sshRig) ssh(t *testing.T, stdin string, cmd ...string) (string, int) {
	t.Helper()
	args := append(r.opts(r.key), "-p", r.port, "127.0.0.1")
	return r.run(t, stdin, "ssh", append(args, cmd...)...)
}

func startSSHRig(t *testing.T) *sshRig {
	t.Helper()
	return startSSHRigOn(t, nil, "busybox")
}

// startSSHRigOn is startSSHRig on the image name, uploaded first from img
// when img is not nil.
func startSSHRigOn(t *testing.T, img *sdk.Image, name string) *sshRig {
	t.Helper()
	for _, tool := range []string{"ssh", "sftp", "scp", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (package openssh-client)", tool)
			}
			t.Skipf("%s missing (package openssh-client)", tool)
		}
	}
	env := testenv.Start(t)
	if img != nil {
		if err := env.Connect(t).EnsureImage(testenv.Ctx(t, 2*time.Minute), img, name, nil); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
	}
	r := &sshRig{dir: t.TempDir()}
	r.key, r.other = filepath.Join(r.dir, "id"), filepath.Join(r.dir, "other")
	for _, k := range []string{r.key, r.other} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	pub, _ := os.ReadFile(r.key + ".pub")
	auth := filepath.Join(r.dir, "authorized_keys")
	os.WriteFile(auth, append([]byte("# the test's key\n"), pub...), 0o600)
	p := startTffs(t, env.ClientDir, "run", "-z", "--ssh", "0", "--ssh-keys", auth, name)
	p.waitOutput(t, 60*time.Second, "ssh into ")
	m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) `).FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no port in %q", p.output())
	}
	r.port = m[1]
	if _, err := os.Stat(filepath.Join(env.ClientDir, "ssh_host_ed25519_key")); err != nil {
		t.Fatalf("host key not kept in the tffs dir: %v", err)
	}
	return r
}

// TestRunSSH: the system's OpenSSH client against `tffs run --ssh`: exec
// with stdin and exit codes, an unknown key refused, sftp put/get/ls/
// rename/mkdir/rmdir/rm, and scp both ways.
func TestRunSSH(t *testing.T) {
	r := startSSHRig(t)
	if out, code := r.ssh(t, "", "cat", "/etc/passwd"); code != 0 || !strings.Contains(out, "root:") {
		t.Fatalf("ssh cat /etc/passwd: %d %q", code, out)
	}
	if out, code := r.ssh(t, "from stdin\n", "cat; exit 5"); code != 5 || out != "from stdin\n" {
		t.Fatalf("ssh with stdin: %d %q", code, out)
	}
	args := append(r.opts(r.other), "-p", r.port, "127.0.0.1", "true")
	if out, code := r.run(t, "", "ssh", args...); code != 255 || !strings.Contains(out, "Permission denied") {
		t.Fatalf("an unknown key: %d %q, want refused", code, out)
	}

	data := make([]byte, 3<<20+17)
	rand.Read(data)
	local := filepath.Join(r.dir, "up.bin")
	os.WriteFile(local, data, 0o644)
	back := filepath.Join(r.dir, "back.bin")
	batch := filepath.Join(r.dir, "batch")
	os.WriteFile(batch, []byte(strings.Join([]string{
		"put " + local + " /tmp/up.bin",
		"ls -l /tmp",
		"rename /tmp/up.bin /tmp/up2.bin",
		"get /tmp/up2.bin " + back,
		"mkdir /tmp/newdir",
		"ls /tmp",
		"rmdir /tmp/newdir",
		"rm /tmp/up2.bin",
		"ls /tmp",
	}, "\n")+"\n"), 0o644)
	sftpArgs := append(r.opts(r.key), "-P", r.port, "-b", batch, "127.0.0.1")
	out, code := r.run(t, "", "sftp", sftpArgs...)
	if code != 0 {
		t.Fatalf("sftp: %d\n%s", code, out)
	}
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Fatalf("sftp get returned %d bytes, want the %d put", len(got), len(data))
	}
	if !strings.Contains(out, "up.bin") || !strings.Contains(out, "newdir") {
		t.Fatalf("sftp listings lack the files:\n%s", out)
	}
	if ls, _ := r.ssh(t, "", "ls", "/tmp"); strings.Contains(ls, "up") || strings.Contains(ls, "newdir") {
		t.Fatalf("after rm and rmdir /tmp holds %q", ls)
	}

	scpArgs := append(r.opts(r.key), "-P", r.port)
	if out, code := r.run(t, "", "scp", append(scpArgs, local, "127.0.0.1:/tmp/scp.bin")...); code != 0 {
		t.Fatalf("scp to: %d %s", code, out)
	}
	back2 := filepath.Join(r.dir, "back2.bin")
	if out, code := r.run(t, "", "scp", append(scpArgs, "127.0.0.1:/tmp/scp.bin", back2)...); code != 0 {
		t.Fatalf("scp from: %d %s", code, out)
	}
	if got, _ := os.ReadFile(back2); !bytes.Equal(got, data) {
		t.Fatalf("scp round trip returned %d bytes, want %d", len(got), len(data))
	}
	if out, _ := r.ssh(t, "", "md5sum /tmp/scp.bin"); !strings.Contains(out, "/tmp/scp.bin") {
		t.Fatalf("md5sum in the container: %q", out)
	}
}

// TestRunSSHInteractive: `ssh -t` through a pty: a shell prompt, the
// terminal's size and a resize seen by `stty size`, Ctrl-C interrupting a
// sleep with the shell surviving, the exit code.
func TestRunSSHInteractive(t *testing.T) {
	r := startSSHRig(t)
	args := append(r.opts(r.key), "-t", "-p", r.port, "127.0.0.1", "PS1='P> ' sh -i")
	cmd := exec.Command("ssh", args...)
	ptmx, err := pty.StartWithAttrs(cmd, &pty.Winsize{Rows: 30, Cols: 90}, &syscall.SysProcAttr{Setsid: true, Setctty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	var out lockedBuffer
	go io.Copy(&out, ptmx)
	waitFor := func(what string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "terminal output "+what, func() bool { return strings.Contains(out.String(), what) })
	}
	typeLine := func(s string) { ptmx.Write([]byte(s + "\r")) }
	waitFor("P> ")
	typeLine("stty size")
	waitFor("30 90")
	pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120})
	testenv.Eventually(t, 30*time.Second, "stty size after the resize", func() bool {
		typeLine("stty size")
		time.Sleep(200 * time.Millisecond)
		return strings.Contains(out.String(), "40 120")
	})
	typeLine(`echo sl""eeping; sleep 1000`)
	waitFor("sleeping")
	time.Sleep(300 * time.Millisecond)
	ptmx.Write([]byte{3})
	typeLine(`echo ali""ve`)
	waitFor("alive")
	typeLine("exit 4")
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("ssh -t did not end; output:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Fatalf("ssh -t exit code %d, want 4; output:\n%s", code, out.String())
	}
}

// TestRunSSHForward: `ssh -L` reaches a server on the container's
// loopback (through nc in the container, until container networking).
func TestRunSSHForward(t *testing.T) {
	r := startSSHRig(t)
	if out, code := r.ssh(t, "", "mkdir -p /www && echo forwarded > /www/index.html && (httpd -p 127.0.0.1:8000 -h /www &) ; sleep 0.2; echo started"); code != 0 || !strings.Contains(out, "started") {
		t.Fatalf("start httpd: %d %q", code, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := append(r.opts(r.key), "-N", "-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:8000", port), "-p", r.port, "127.0.0.1")
	fwd := exec.Command("ssh", args...)
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fwd.Process.Kill(); fwd.Wait() })
	var body string
	testenv.Eventually(t, 30*time.Second, "the page through ssh -L", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "forwarded\n" {
		t.Fatalf("page %q", body)
	}
}

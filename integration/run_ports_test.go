package integration

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
)

// TestRunPublishPort: `tffs run -p 0:8000` tunnels a free local port
// (printed on stderr) to busybox httpd in the container for the run's life;
// a bad -p is one clear line and exit 1.
func TestRunPublishPort(t *testing.T) {
	env := testenv.Start(t)
	cmd := exec.Command(testenv.Binary(t), "run", "-p", "0:8000", "busybox", "sh", "-c",
		"mkdir -p /www && echo through-the-tunnel > /www/index.html && exec httpd -f -p 8000 -h /www")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	cmd.WaitDelay = 5 * time.Second
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	re := regexp.MustCompile(`port 8000 of \S+ on (127\.0\.0\.1:\d+)`)
	lines := bufio.NewReader(stderr)
	var addr string
	for addr == "" {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("tffs run -p: stderr ended (%v) before the port line", err)
		}
		if m := re.FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
	}
	go io.Copy(io.Discard, lines)
	var body string
	testenv.Eventually(t, 30*time.Second, "the page through -p", func() bool {
		resp, err := http.Get("http://" + addr + "/index.html")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "through-the-tunnel\n" {
		t.Fatalf("page %q", body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("tffs run -p did not end on SIGTERM")
	}
	if _, err := http.Get("http://" + addr + "/index.html"); err == nil {
		t.Fatalf("%s still answers after the run ended", addr)
	}
	for _, p := range []string{"x:80", "0:0", "70000:80", "1:2:3"} {
		_, stderr, code := tffsRun(t, env, nil, "run", "-p", p, "busybox", "true")
		if code != 1 || stderr == "" {
			t.Fatalf("-p %s: code %d stderr %q, want exit 1", p, code, stderr)
		}
	}
}

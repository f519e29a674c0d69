package integration

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/location"
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

// TestRunWeb: `tffs run -w FQDN:CERTNAME` publishes the container's port
// 80 at the domain through the location's web gateway, over HTTP and over
// HTTPS with CERTNAME.crt and CERTNAME.key; the endpoint ends with the run.
func TestRunWeb(t *testing.T) {
	env := testenv.Start(t, func(c *location.Config) { c.HTTPListen, c.HTTPSListen = "127.0.0.1:0", "127.0.0.1:0" })
	const domain = "cli.example.test"
	cert, key := selfSigned(t, domain)
	certName := filepath.Join(t.TempDir(), "site")
	os.WriteFile(certName+".crt", cert, 0o644)
	os.WriteFile(certName+".key", key, 0o600)
	cmd := exec.Command(testenv.Binary(t), "run", "-w", domain+":"+certName, "busybox", "sh", "-c",
		"mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	cmd.WaitDelay = 5 * time.Second
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	get := func() (string, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+env.Loc.Master.HTTPAddr()+"/index.html", nil)
		req.Host = domain
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("%s", resp.Status)
		}
		return string(b), nil
	}
	var body string
	testenv.Eventually(t, 60*time.Second, "the page through the gateway", func() bool {
		var err error
		body, err = get()
		return err == nil
	})
	if body != "published\n" || !strings.Contains(stderr.String(), "published at "+domain) {
		t.Fatalf("page %q, stderr %q", body, stderr.String())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cert)
	conn, err := tls.Dial("tcp", env.Loc.Master.HTTPSAddr(), &tls.Config{ServerName: domain, RootCAs: pool})
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	fmt.Fprintf(conn, "GET /index.html HTTP/1.0\r\nHost: %s\r\n\r\n", domain)
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(b), "published") {
		t.Fatalf("HTTPS: %q", b)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	testenv.Eventually(t, 30*time.Second, "the domain gone with the run", func() bool {
		_, err := get()
		return err != nil
	})
	// A missing certificate: one clear line, exit 1.
	_, errOut, code := tffsRun(t, env, nil, "run", "-w", domain+":"+certName+"-none", "busybox", "true")
	if code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("missing certificate: code %d stderr %q", code, errOut)
	}
}

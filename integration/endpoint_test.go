package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tffsfs "github.com/tffs/tffs/fs"
	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// selfSigned makes a PEM certificate and key for domain.
func selfSigned(t *testing.T, domain string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: domain}, DNSNames: []string{domain},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func TestEndpoints(t *testing.T) {
	env := testenv.Start(t, func(c *location.Config) { c.HTTPListen, c.HTTPSListen = "127.0.0.1:0", "127.0.0.1:0" })
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 3*time.Minute)
	gw := "http://" + env.Loc.Master.HTTPAddr()
	var ctrs []*sdk.Container
	for i := 0; i < 3; i++ {
		c := httpd(t, ctx, loc, fmt.Sprintf("w%d", i))
		if err := loc.Publish(ctx, "web.example.test", c, 80); err != nil {
			t.Fatal(err)
		}
		ctrs = append(ctrs, c)
	}
	get := func(host string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("%s: %s", resp.Status, b)
		}
		return string(b), nil
	}
	count := func(n int) map[string]int {
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			body, err := get("web.example.test")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			seen[strings.TrimSpace(body)]++
		}
		return seen
	}
	seen := count(300)
	for _, c := range ctrs {
		if seen["page of "+c.Name] == 0 {
			t.Fatalf("%s answered none of 300 requests: %v", c.Name, seen)
		}
	}
	// One stops answering (its server is killed): the rest answer every request.
	if err := ctrs[1].Signal(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctrs[1].Wait(ctx)
	seen = count(60)
	if seen["page of w1"] != 0 || seen["page of w0"] == 0 || seen["page of w2"] == 0 {
		t.Fatalf("after w1 stopped: %v", seen)
	}
	// An unknown host is not served.
	if _, err := get("other.example.test"); err == nil {
		t.Fatal("an unpublished domain answered")
	}
	// HTTPS: each domain gets its own certificate, chosen by SNI.
	pool := x509.NewCertPool()
	for _, d := range []string{"web.example.test", "api.example.test"} {
		cert, key := selfSigned(t, d)
		if err := loc.SetEndpointCert(ctx, d, cert, key); err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(cert)
	}
	if err := loc.Publish(ctx, "api.example.test", ctrs[2], 80); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"web.example.test", "api.example.test"} {
		conn, err := tls.Dial("tcp", env.Loc.Master.HTTPSAddr(), &tls.Config{ServerName: d, RootCAs: pool})
		if err != nil {
			t.Fatalf("TLS to %s: %v", d, err)
		}
		if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != d {
			t.Fatalf("SNI %s got the certificate of %s", d, cn)
		}
		fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", d)
		b, _ := io.ReadAll(conn)
		conn.Close()
		if !strings.Contains(string(b), "page of w") {
			t.Fatalf("HTTPS %s: %q", d, b)
		}
	}
	// The domain belongs to this account: another account cannot publish it.
	stranger := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "stranger")))
	if err := stranger.EnsureImage(ctx, busyboxImage(t), "busybox", nil); err != nil {
		t.Fatal(err)
	}
	s := httpd(t, ctx, stranger, "s")
	if err := stranger.Publish(ctx, "web.example.test", s, 80); !errors.Is(err, sdk.ErrPermission) {
		t.Fatalf("another account published web.example.test: %v", err)
	}
	// Endpoints end with the session.
	loc.Close()
	testenv.Eventually(t, 30*time.Second, "endpoint gone with its session", func() bool {
		_, err := get("web.example.test")
		return err != nil
	})
}

// TestEndpointsMount drives an endpoint through the mount: mkdir
// endpoints/DOMAIN, `publish NAME PORT` on its ctl, cert and key, info.json,
// rmdir.
func TestEndpointsMount(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t, func(c *location.Config) { c.HTTPListen, c.HTTPSListen = "127.0.0.1:0", "127.0.0.1:0" })
	loc := env.Connect(t)
	mnt := t.TempDir()
	m, err := tffsfs.Mount(context.Background(), loc, mnt, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	ctx := testenv.Ctx(t, 2*time.Minute)
	srv := filepath.Join(mnt, "nodes", "any", "srv")
	if err := os.Mkdir(srv, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"image", "busybox\n"},
		{"cmd", `sh -c "mkdir -p /www && echo page of srv > /www/index.html && exec httpd -f -p 80 -h /www"` + "\n"},
		{"ctl", "start\n"}} {
		if err := os.WriteFile(filepath.Join(srv, kv[0]), []byte(kv[1]), 0o644); err != nil {
			t.Fatalf("%s: %v", kv[0], err)
		}
	}
	if !srvUp(t, ctx, loc, "srv") {
		t.Fatal("srv does not answer")
	}
	ep := filepath.Join(mnt, "endpoints", "site.example.test")
	if err := os.Mkdir(ep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ep, "ctl"), []byte("publish nosuch 80\n"), 0o644); err == nil {
		t.Fatal("publish of an unknown container succeeded")
	}
	if err := os.WriteFile(filepath.Join(ep, "ctl"), []byte("publish srv 80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, key := selfSigned(t, "site.example.test")
	os.WriteFile(filepath.Join(ep, "cert"), cert, 0o644)
	if err := os.WriteFile(filepath.Join(ep, "key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	info, _ := os.ReadFile(filepath.Join(ep, "info.json"))
	if !strings.Contains(string(info), `"srv": 80`) || !strings.Contains(string(info), `"tls": true`) {
		t.Fatalf("info.json: %s", info)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cert)
	conn, err := tls.Dial("tcp", env.Loc.Master.HTTPSAddr(), &tls.Config{ServerName: "site.example.test", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: site.example.test\r\n\r\n")
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(b), "page of srv") {
		t.Fatalf("HTTPS through the endpoint: %q", b)
	}
	if err := os.Remove(ep); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+env.Loc.Master.HTTPAddr()+"/", nil)
	req.Host = "site.example.test"
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the endpoint answers after rmdir")
		}
	}
}

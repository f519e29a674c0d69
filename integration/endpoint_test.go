package integration

import (
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
	"strings"
	"syscall"
	"testing"
	"time"

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

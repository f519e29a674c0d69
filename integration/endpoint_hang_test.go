package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/location"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// TestEndpointHungContainerTakenOut: a container that accepts connections
// and never answers is taken out of its domain's rotation after one
// request that waited GatewayTimeout (504); the others then answer every
// request.
func TestEndpointHungContainerTakenOut(t *testing.T) {
	env := testenv.Start(t, func(c *location.Config) {
		c.HTTPListen, c.GatewayTimeout = "127.0.0.1:0", 2*time.Second
	})
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, 3*time.Minute)
	gw := "http://" + env.Loc.Master.HTTPAddr()
	good := httpd(t, ctx, loc, "good")
	// Accepts every connection and runs sleep on it: never an answer.
	hung, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Name("hung"),
		sdk.Command("nc", "-ll", "-p", "80", "-e", "sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	if err := hung.WaitTCP(ctx, 80); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*sdk.Container{good, hung} {
		if err := loc.Publish(ctx, "hang.example.test", c, 80); err != nil {
			t.Fatal(err)
		}
	}
	get := func() (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw+"/", nil)
		req.Host = "hang.example.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	timeouts := 0
	for i := 0; i < 4; i++ { // round robin reaches the hung one within two
		code, body := get()
		switch {
		case code == http.StatusGatewayTimeout:
			timeouts++
		case code != 200 || strings.TrimSpace(body) != "page of good":
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if timeouts != 1 {
		t.Fatalf("%d requests timed out, want exactly 1 (then the hung container is out)", timeouts)
	}
	for i := 0; i < 20; i++ {
		if code, body := get(); code != 200 || strings.TrimSpace(body) != "page of good" {
			t.Fatal(fmt.Sprintf("after the hung container was taken out, request %d: %d %q", i, code, body))
		}
	}
}

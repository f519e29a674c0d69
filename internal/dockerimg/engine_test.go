package dockerimg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// serve runs mux as a Docker engine on a unix socket and returns its client.
func serve(t *testing.T, mux *http.ServeMux) *Engine {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return New(sock)
}

func TestEngine(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /images/json", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]Summary{
			{ID: "sha256:old", RepoTags: []string{"a:1"}, Created: 10},
			{ID: "sha256:new", RepoTags: []string{"<none>:<none>"}, Created: 20},
		})
	})
	mux.HandleFunc("GET /images/{ref}/json", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("ref") != "a:1" {
			http.Error(w, `{"message":"no such image"}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"Id":"sha256:old"}`))
	})
	mux.HandleFunc("GET /images/get", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tar:" + r.URL.Query().Get("names"))) })
	e := serve(t, mux)
	ctx := context.Background()
	if !e.Available(ctx) {
		t.Fatal("engine not available")
	}
	latest, err := e.Latest(ctx)
	if err != nil || latest.ID != "sha256:new" || latest.Name() != "" {
		t.Fatalf("Latest = %+v, %v", latest, err)
	}
	if _, id, err := e.Inspect(ctx, "a:1"); err != nil || id != "sha256:old" {
		t.Fatalf("Inspect = %q, %v", id, err)
	}
	if _, _, err := e.Inspect(ctx, "b:2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Inspect of a missing image: %v", err)
	}
	var buf bytes.Buffer
	if err := e.Save(ctx, "a:1", &buf); err != nil || buf.String() != "tar:a:1" {
		t.Fatalf("Save = %q, %v", buf.String(), err)
	}
	if New(filepath.Join(t.TempDir(), "none.sock")).Available(ctx) {
		t.Fatal("a missing socket is available")
	}
}

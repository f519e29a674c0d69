package integration

import (
	"archive/tar"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/internal/testenv"
)

// fakeEngine serves the parts of the Docker engine API tffs uses (ping,
// image list, inspect, save) on a unix socket, for one image archive, and
// counts the saves; TestRunDockerEngine drives a real private dockerd.
type fakeEngine struct {
	socket string
	saves  atomic.Int32
}

func startFakeEngine(t *testing.T, archive, name, id string, config json.RawMessage) *fakeEngine {
	t.Helper()
	e := &fakeEngine{socket: filepath.Join(t.TempDir(), "docker.sock")}
	ln, err := net.Listen("unix", e.socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	mux.HandleFunc("GET /images/json", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]map[string]any{
			{"Id": "sha256:" + strings.Repeat("0", 64), "RepoTags": []string{"old:v0"}, "Created": 1},
			{"Id": id, "RepoTags": []string{name}, "Created": 2},
		})
	})
	mux.HandleFunc("GET /images/{ref}/json", func(w http.ResponseWriter, r *http.Request) {
		if ref := r.PathValue("ref"); ref != name && ref != id {
			http.Error(w, "no such image", http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Id": id, "RepoTags": []string{name}, "Config": config})
	})
	mux.HandleFunc("GET /images/get", func(w http.ResponseWriter, r *http.Request) {
		if ref := r.URL.Query().Get("names"); ref != name && ref != id {
			http.Error(w, "no such image", http.StatusNotFound)
			return
		}
		e.saves.Add(1)
		http.ServeFile(w, r, archive)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return e
}

// TestRunDockerImage: an image the location lacks comes from the local
// Docker engine, its new layer uploaded once; "." is the engine's latest
// image; `tffs image describe` and `tffs image push` see it.
func TestRunDockerImage(t *testing.T) {
	env := testenv.Start(t)
	archive := filepath.Join(t.TempDir(), "img.tar")
	extra := &tar.Header{Name: "from-docker", Typeflag: tar.TypeReg, Mode: 0o644, Size: 0}
	if err := ociarchive.BuildBusyboxWith("/bin/busybox", archive, "dockerbox:v1", extra); err != nil {
		t.Fatal(err)
	}
	imgs, err := ociarchive.Load(archive)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Config json.RawMessage `json:"config"`
	}
	json.Unmarshal(imgs[0].Config, &cfg)
	eng := startFakeEngine(t, archive, "dockerbox:v1", imgs[0].ConfigDigest, cfg.Config)
	dockerEnv := []string{"DOCKER_HOST=unix://" + eng.socket}

	stdout, stderr, code := tffsRun(t, env, dockerEnv, "run", "dockerbox:v1", "ls", "/from-docker")
	if code != 0 || stdout != "/from-docker\n" || !strings.Contains(stderr, "[==============================]") {
		t.Fatalf("first run: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = tffsRun(t, env, dockerEnv, "run", ".", "ls", "/from-docker")
	if code != 0 || stdout != "/from-docker\n" || stderr != "" {
		t.Fatalf("run .: code %d stdout %q stderr %q (want no upload)", code, stdout, stderr)
	}
	if n := eng.saves.Load(); n != 1 {
		t.Fatalf("%d docker saves, want 1 (the image is uploaded once)", n)
	}
	stdout, _, code = tffsRun(t, env, dockerEnv, "image", "describe", "dockerbox:v1")
	if code != 0 || !strings.Contains(stdout, `"architecture"`) {
		t.Fatalf("image describe: code %d stdout %q", code, stdout)
	}
	stdout, _, code = tffsRun(t, env, dockerEnv, "image", "push", ".")
	if code != 0 || stdout != "dockerbox:v1\n" {
		t.Fatalf("image push .: code %d stdout %q", code, stdout)
	}
	stdout, _, code = tffsRun(t, env, dockerEnv, "image", "ls")
	if code != 0 || !strings.Contains(stdout, "dockerbox:v1\t") {
		t.Fatalf("image ls: code %d stdout %q", code, stdout)
	}
	if _, stderr, code := tffsRun(t, env, dockerEnv, "image", "rm", "dockerbox:v1"); code != 0 {
		t.Fatalf("image rm: %d %s", code, stderr)
	}
	if stdout, _, _ := tffsRun(t, env, dockerEnv, "image", "ls"); strings.Contains(stdout, "dockerbox") || !strings.Contains(stdout, "busybox:latest") {
		t.Fatalf("image ls after rm: %q", stdout)
	}
	if _, stderr, code := tffsRun(t, env, dockerEnv, "image", "rm", "dockerbox:v1"); code != 1 || !strings.Contains(stderr, "not in this location") {
		t.Fatalf("image rm twice: %d %q", code, stderr)
	}
	// No engine and no such image: one clear line.
	_, stderr, code = tffsRun(t, env, []string{"DOCKER_HOST=unix:///nonexistent.sock"}, "run", "elsewhere:v1", "true")
	if code != 1 || !strings.Contains(stderr, "no local Docker engine") {
		t.Fatalf("without an engine: code %d stderr %q", code, stderr)
	}
}

// TestRunDockerEngine: with a private dockerd holding a busybox image and
// an image built from it by `docker build`, `tffs run NAME` uploads the
// image's new layer once and `tffs run .` runs the engine's latest image,
// uploading only the layer the location lacks, once.
func TestRunDockerEngine(t *testing.T) {
	eng := startDockerEngine(t)
	env := testenv.Start(t)
	dockerEnv := []string{"DOCKER_HOST=unix://" + eng.socket}
	dir := t.TempDir()
	archive := filepath.Join(dir, "img.tar")
	extra := &tar.Header{Name: "from-docker", Typeflag: tar.TypeReg, Mode: 0o644, Size: 0}
	if err := ociarchive.BuildBusyboxWith("/bin/busybox", archive, "dockerbox:v1", extra); err != nil {
		t.Fatal(err)
	}
	if out := eng.docker(t, "load", "-i", archive); !strings.Contains(out, "dockerbox:v1") {
		t.Fatalf("docker load: %q", out)
	}
	build := filepath.Join(dir, "build")
	os.Mkdir(build, 0o755)
	os.WriteFile(filepath.Join(build, "thefile"), []byte("built by docker\n"), 0o644)
	os.WriteFile(filepath.Join(build, "Dockerfile"), []byte("FROM dockerbox:v1\nCOPY thefile /thefile\n"), 0o644)
	eng.docker(t, "build", "-q", "-t", "built:v1", build)

	// The location has busybox, whose layer is not dockerbox's: one upload.
	before := layerCount(t, env)
	stdout, stderr, code := tffsRun(t, env, dockerEnv, "run", "dockerbox:v1", "ls", "/from-docker")
	if code != 0 || stdout != "/from-docker\n" || !strings.Contains(stderr, "[==============================]") ||
		!strings.Contains(stderr, "(0 layers already there)") {
		t.Fatalf("first run: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	if n := layerCount(t, env); n != before+1 {
		t.Fatalf("the location holds %d layers after the first run, want %d", n, before+1)
	}
	stdout, stderr, code = tffsRun(t, env, dockerEnv, "run", "dockerbox:v1", "ls", "/from-docker")
	if code != 0 || stdout != "/from-docker\n" || stderr != "" {
		t.Fatalf("second run: code %d stdout %q stderr %q (want no upload)", code, stdout, stderr)
	}

	// "." is built:v1, the latest: only its COPY layer goes up, once.
	stdout, stderr, code = tffsRun(t, env, dockerEnv, "run", ".", "cat", "/thefile")
	if code != 0 || stdout != "built by docker\n" || !strings.Contains(stderr, "built:v1 [") ||
		!strings.Contains(stderr, "(1 layers already there)") {
		t.Fatalf("run .: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	if n := layerCount(t, env); n != before+2 {
		t.Fatalf("the location holds %d layers after run ., want %d", n, before+2)
	}
	stdout, stderr, code = tffsRun(t, env, dockerEnv, "run", ".", "cat", "/thefile", "/from-docker")
	if code != 0 || stdout != "built by docker\n" || stderr != "" {
		t.Fatalf("run . again: code %d stdout %q stderr %q (want no upload)", code, stdout, stderr)
	}
	if n := layerCount(t, env); n != before+2 {
		t.Fatalf("the location holds %d layers after the second run ., want %d", n, before+2)
	}
	stdout, _, code = tffsRun(t, env, dockerEnv, "image", "ls")
	if code != 0 || !strings.Contains(stdout, "built:v1\t") || !strings.Contains(stdout, "dockerbox:v1\t") {
		t.Fatalf("image ls: code %d stdout %q", code, stdout)
	}
}

// Package dockerimg reads images from the local Docker engine through its
// HTTP API on its unix socket: the most recently built image, an image's
// config, and `docker save` archives that internal/ociarchive loads.
package dockerimg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// ErrNoEngine is returned when no Docker engine answers on the socket.
var ErrNoEngine = errors.New("no local Docker engine")

// ErrNotFound is returned for an image the engine does not have.
var ErrNotFound = errors.New("not found in the local Docker engine")

// DefaultSocket is the engine's socket: $DOCKER_HOST when it is a unix://
// address, else /var/run/docker.sock.
func DefaultSocket() string {
	if h, ok := strings.CutPrefix(os.Getenv("DOCKER_HOST"), "unix://"); ok && h != "" {
		return h
	}
	return "/var/run/docker.sock"
}

// Engine is a client of one Docker engine.
type Engine struct {
	socket string
	http   *http.Client
}

// New returns a client of the engine listening on socket ("" = DefaultSocket).
func New(socket string) *Engine {
	if socket == "" {
		socket = DefaultSocket()
	}
	return &Engine{socket: socket, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}}}}
}

// Available reports whether an engine answers on the socket.
func (e *Engine) Available(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := e.get(ctx, "/_ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func (e *Engine) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrNoEngine, e.socket, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return nil, ErrNotFound
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("docker engine: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

func (e *Engine) getJSON(ctx context.Context, path string, v any) error {
	resp, err := e.get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("docker engine %s: %w", path, err)
	}
	return nil
}

// Summary is an image of the engine's list.
type Summary struct {
	ID       string   `json:"Id"` // the config digest, sha256:…
	RepoTags []string `json:"RepoTags"`
	Created  int64    `json:"Created"`
}

// Name is the image's first tag, or "" if it has none.
func (s Summary) Name() string {
	for _, t := range s.RepoTags {
		if t != "<none>:<none>" {
			return t
		}
	}
	return ""
}

// List lists the engine's images.
func (e *Engine) List(ctx context.Context) ([]Summary, error) {
	var list []Summary
	return list, e.getJSON(ctx, "/images/json", &list)
}

// Latest returns the most recently built (created) image.
func (e *Engine) Latest(ctx context.Context) (Summary, error) {
	list, err := e.List(ctx)
	if err != nil {
		return Summary{}, err
	}
	if len(list) == 0 {
		return Summary{}, fmt.Errorf("the engine has no images: %w", ErrNotFound)
	}
	best := list[0]
	for _, s := range list[1:] {
		if s.Created > best.Created {
			best = s
		}
	}
	return best, nil
}

// Inspect returns the engine's description of an image (raw JSON) and its
// id (config digest).
func (e *Engine) Inspect(ctx context.Context, ref string) (json.RawMessage, string, error) {
	var raw json.RawMessage
	if err := e.getJSON(ctx, "/images/"+url.PathEscape(ref)+"/json", &raw); err != nil {
		return nil, "", fmt.Errorf("image %s: %w", ref, err)
	}
	var id struct {
		ID string `json:"Id"`
	}
	json.Unmarshal(raw, &id)
	return raw, id.ID, nil
}

// Save writes the `docker save` archive of ref to w.
func (e *Engine) Save(ctx context.Context, ref string, w io.Writer) error {
	resp, err := e.get(ctx, "/images/get?names="+url.QueryEscape(ref))
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("image %s: save: %w", ref, err)
	}
	return nil
}

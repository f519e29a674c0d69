package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/tffs/tffs/protocol"
)

// AdminSocket is the file name of the master's admin socket in its Dir:
// a root-only unix socket through which `tffs account …` and `tffs node
// register …` change a running master.
const AdminSocket = "admin.sock"

// ServeAdmin serves the admin API on a unix socket at path until ctx ends
// or the master stops (Run returns or Close is called), then removes the
// socket. Routes: GET/POST /accounts, DELETE /accounts/NAME, and the same
// for /nodes. It returns nil on such a stop and the error otherwise (the
// socket cannot be created or made root-only, or serving fails); the
// master's Close waits for it.
func (m *Master) ServeAdmin(ctx context.Context, path string) error {
	if !m.admin.add() {
		return fmt.Errorf("admin socket: master stopped: %w", protocol.ErrUnavailable)
	}
	defer m.admin.wg.Done()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return fmt.Errorf("admin socket: %w", err)
	}
	srv := &http.Server{Handler: m.adminMux()}
	served := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
		case <-m.stopping:
		case <-m.life.Quit():
		case <-served:
		}
		srv.Close()
	}()
	err = srv.Serve(ln)
	close(served)
	<-watched
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin socket: %w", err)
	}
	return nil
}

// adminMux routes the admin API.
func (m *Master) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, kind := range []string{"accounts", "nodes"} {
		add, remove, list := m.AddAccount, m.RemoveAccount, m.Accounts
		if kind == "nodes" {
			add, remove, list = m.AddNode, m.RemoveNode, m.Nodes
		}
		mux.HandleFunc("GET /"+kind, func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(list())
		})
		mux.HandleFunc("POST /"+kind, func(w http.ResponseWriter, r *http.Request) {
			var p Principal
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&p); err != nil {
				adminError(w, fmt.Errorf("bad request body: %v: %w", err, protocol.ErrInvalid))
				return
			}
			adminError(w, add(p.Name, p.PublicKey))
		})
		mux.HandleFunc("DELETE /"+kind+"/{name}", func(w http.ResponseWriter, r *http.Request) {
			adminError(w, remove(r.PathValue("name")))
		})
	}
	m.inviteRoutes(mux)
	return mux
}

func adminError(w http.ResponseWriter, err error) {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, protocol.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, protocol.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, protocol.ErrExists):
		code = http.StatusConflict
	}
	http.Error(w, strings.TrimSpace(err.Error()), code)
}

// Package dirsync mirrors a local directory into a directory of a running
// container: an initial copy, then every local create, write, delete and
// rename pushed as it happens (github.com/fsnotify/fsnotify, debounced),
// with the patterns of a .tffsignore (else .gitignore) left out. Nothing
// outside the target directory is touched.
package dirsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	ignore "github.com/sabhiram/go-gitignore"
	"github.com/tffs/tffs/sdk"
)

// Debounce is how long changes are gathered before they are pushed.
const Debounce = 150 * time.Millisecond

// Syncer mirrors Local into Remote in Container.
type Syncer struct {
	Container *sdk.Container
	Local     string // a local directory
	Remote    string // an absolute directory in the container
	Log       *slog.Logger

	ignore *ignore.GitIgnore
	w      *fsnotify.Watcher
}

// Parse splits LOCALDIR:/path.
func Parse(spec string) (local, remote string, err error) {
	i := strings.LastIndex(spec, ":")
	if i <= 0 || !path.IsAbs(spec[i+1:]) {
		return "", "", fmt.Errorf("sync %q: want LOCALDIR:/path: %w", spec, sdk.ErrInvalid)
	}
	return spec[:i], path.Clean(spec[i+1:]), nil
}

// Run copies Local into Remote, then pushes local changes until ctx ends.
// ready, if not nil, is closed after the initial copy.
func (s *Syncer) Run(ctx context.Context, ready chan<- struct{}) error {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(s.Local)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("sync: %s is not a directory: %w", s.Local, sdk.ErrInvalid)
	}
	if !path.IsAbs(s.Remote) || path.Clean(s.Remote) == "/" {
		return fmt.Errorf("sync: target %q must be an absolute directory other than /: %w", s.Remote, sdk.ErrInvalid)
	}
	s.Remote = path.Clean(s.Remote)
	s.loadIgnore()
	if s.w, err = fsnotify.NewWatcher(); err != nil {
		return err
	}
	defer s.w.Close()
	// Watch first, then copy: a change during the copy is pushed again.
	if err := s.mkdirAll(ctx, s.Remote); err != nil {
		return err
	}
	if err := s.push(ctx, s.Local); err != nil {
		return err
	}
	if ready != nil {
		close(ready)
	}
	pending := map[string]bool{}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.w.Errors:
			s.Log.Warn("sync: watch", "err", err)
		case ev := <-s.w.Events:
			pending[ev.Name] = true
			if timer == nil {
				timer = time.After(Debounce)
			}
		case <-timer:
			timer = nil
			for p := range pending {
				if err := s.apply(ctx, p); err != nil && ctx.Err() == nil {
					s.Log.Warn("sync", "path", p, "err", err)
					fmt.Fprintf(os.Stderr, "tffs sync: %s: %v\n", p, err)
				}
			}
			clear(pending)
		}
	}
}

func (s *Syncer) loadIgnore() {
	for _, name := range []string{".tffsignore", ".gitignore"} {
		if ig, err := ignore.CompileIgnoreFile(filepath.Join(s.Local, name)); err == nil {
			s.ignore = ig
			return
		}
	}
}

// rel returns p relative to Local ("" for Local itself) and whether it is
// ignored (dir: p is a directory, which "name/" patterns match).
func (s *Syncer) rel(p string, dir bool) (string, bool) {
	r, err := filepath.Rel(s.Local, p)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return "", true
	}
	if r == "." {
		return "", false
	}
	r = filepath.ToSlash(r)
	if s.ignore != nil && (s.ignore.MatchesPath(r) || dir && s.ignore.MatchesPath(r+"/")) {
		return r, true
	}
	return r, false
}

func (s *Syncer) remote(rel string) string { return path.Join(s.Remote, rel) }

// apply pushes the current state of local path p.
func (s *Syncer) apply(ctx context.Context, p string) error {
	fi, err := os.Lstat(p)
	rel, skip := s.rel(p, err == nil && fi.IsDir())
	if skip || rel == "" {
		return nil
	}
	if errors.Is(err, os.ErrNotExist) {
		err := s.Container.Remove(ctx, s.remote(rel), true)
		if errors.Is(err, sdk.ErrNotFound) {
			return nil
		}
		return err
	}
	return s.push(ctx, p)
}

// push copies the file or tree at local path p (and watches its
// directories).
func (s *Syncer) push(ctx context.Context, p string) error {
	return filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // gone meanwhile: its removal is pending
			}
			return err
		}
		rel, skip := s.rel(q, d.IsDir())
		if skip {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			if err := s.w.Add(q); err != nil {
				return err
			}
			if rel != "" {
				return s.mkdirAll(ctx, s.remote(rel))
			}
			return nil
		case d.Type().IsRegular():
			return s.putFile(ctx, q, s.remote(rel))
		}
		return nil // symlinks, devices, sockets: not synced
	})
}

func (s *Syncer) putFile(ctx context.Context, local, remote string) error {
	f, err := os.Open(local)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return s.Container.PutReader(ctx, remote, f, fi.Mode().Perm())
}

// mkdirAll makes dir and its missing parents in the container.
func (s *Syncer) mkdirAll(ctx context.Context, dir string) error {
	if fi, err := s.Container.Stat(ctx, dir); err == nil {
		if !os.FileMode(fi.Mode).IsDir() {
			return fmt.Errorf("sync: %s is not a directory in the container: %w", dir, sdk.ErrInvalid)
		}
		return nil
	}
	if parent := path.Dir(dir); parent != dir {
		if err := s.mkdirAll(ctx, parent); err != nil {
			return err
		}
	}
	err := s.Container.Mkdir(ctx, dir, 0o755)
	if errors.Is(err, sdk.ErrExists) {
		return nil
	}
	return err
}

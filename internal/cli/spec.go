package cli

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tffs/tffs/sdk"
)

// EnvList turns -e flags into KEY=VALUE pairs: "VAR=value" is kept, a bare
// "VAR" takes the local value of VAR (and is dropped if VAR is unset, as
// docker does).
func EnvList(flags []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, f := range flags {
		k, _, hasValue := strings.Cut(f, "=")
		if k == "" || strings.ContainsAny(k, "\x00") {
			return nil, fmt.Errorf("-e %q: want VAR=value or VAR: %w", f, sdk.ErrInvalid)
		}
		if hasValue {
			out = append(out, f)
			continue
		}
		if v, ok := lookup(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out, nil
}

// FileSpec is one -f SRC:DEST: a local file written into the container
// before it boots.
type FileSpec struct {
	Src, Dest string
}

// ParseFile parses SRC:DEST; a DEST ending in "/" takes SRC's name. DEST
// must be absolute.
func ParseFile(s string) (FileSpec, error) {
	src, dest, ok := strings.Cut(s, ":")
	if !ok || src == "" || dest == "" {
		return FileSpec{}, fmt.Errorf("-f %q: want SRC:DEST: %w", s, sdk.ErrInvalid)
	}
	if !path.IsAbs(dest) {
		return FileSpec{}, fmt.Errorf("-f %q: DEST must be an absolute path: %w", s, sdk.ErrInvalid)
	}
	if strings.HasSuffix(dest, "/") {
		dest += filepath.Base(src)
	}
	return FileSpec{Src: src, Dest: path.Clean(dest)}, nil
}

// Option reads the local file and returns the spawn option writing it
// (with the local file's permission bits).
func (f FileSpec) Option() (sdk.SpawnOption, error) {
	fi, err := os.Stat(f.Src)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", f.Src, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("-f %s: not a regular file: %w", f.Src, sdk.ErrInvalid)
	}
	b, err := os.ReadFile(f.Src)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", f.Src, err)
	}
	return sdk.PreBootFileMode(f.Dest, b, uint32(fi.Mode().Perm())), nil
}

// ParseBytes parses a size as docker's --memory takes it: a number of
// bytes with an optional b, k, m or g suffix (powers of 1024).
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'b':
			t = t[:n-1]
		case 'k':
			mult, t = 1<<10, t[:n-1]
		case 'm':
			mult, t = 1<<20, t[:n-1]
		case 'g':
			mult, t = 1<<30, t[:n-1]
		}
	}
	var v int64
	if _, err := fmt.Sscanf(t, "%d", &v); err != nil || v < 0 || fmt.Sprint(v) != t || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a number with an optional k, m or g suffix: %w", s, sdk.ErrInvalid)
	}
	return v * mult, nil
}

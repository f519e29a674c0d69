package cli

import (
	"context"
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

// VolumeSpec is one -m VOL:/path[:ro]: a volume of the account (name or
// tag) mounted in the container.
type VolumeSpec struct {
	Volume, Path string
	ReadOnly     bool
}

// ParseVolume parses VOL:/path, with an optional :ro (read-only) or :rw.
func ParseVolume(s string) (VolumeSpec, error) {
	parts := strings.Split(s, ":")
	bad := func(why string) (VolumeSpec, error) {
		return VolumeSpec{}, fmt.Errorf("-m %q: %s: %w", s, why, sdk.ErrInvalid)
	}
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return bad("want VOL:/path or VOL:/path:ro")
	}
	v := VolumeSpec{Volume: parts[0], Path: parts[1]}
	if !path.IsAbs(v.Path) {
		return bad("the mount point must be an absolute path")
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			v.ReadOnly = true
		case "rw":
		default:
			return bad("the mode must be ro or rw")
		}
	}
	v.Path = path.Clean(v.Path)
	return v, nil
}

// Option is the spawn option mounting the volume.
func (v VolumeSpec) Option() sdk.SpawnOption {
	if v.ReadOnly {
		return sdk.MountVolumeNamed(v.Volume, v.Path, sdk.ReadOnly())
	}
	return sdk.MountVolumeNamed(v.Volume, v.Path)
}

// PortSpec is one -p LOCAL:REMOTE: a tunnel from 127.0.0.1:LOCAL (0 = any
// free port) to the container's REMOTE port.
type PortSpec struct {
	Local, Remote int
}

// ParsePort parses LOCAL:REMOTE, or REMOTE alone (same as 0:REMOTE).
func ParsePort(s string) (PortSpec, error) {
	l, r, ok := strings.Cut(s, ":")
	if !ok {
		l, r = "0", s
	}
	var p PortSpec
	bad := func() (PortSpec, error) {
		return PortSpec{}, fmt.Errorf("-p %q: want LOCAL:REMOTE ports (LOCAL 0: any free port): %w", s, sdk.ErrInvalid)
	}
	if _, err := fmt.Sscanf(l, "%d", &p.Local); err != nil || fmt.Sprint(p.Local) != l || p.Local < 0 || p.Local > 65535 {
		return bad()
	}
	if _, err := fmt.Sscanf(r, "%d", &p.Remote); err != nil || fmt.Sprint(p.Remote) != r || p.Remote < 1 || p.Remote > 65535 {
		return bad()
	}
	return p, nil
}

// WebSpec is one -w FQDN[:CERTNAME]: the container's port 80 published at
// the domain through the location's web gateway, served over HTTPS too
// with the certificate chain CERTNAME.crt and key CERTNAME.key (PEM files;
// CERTNAME may hold a directory) when CERTNAME is given.
type WebSpec struct {
	Domain, Cert string
}

// ParseWeb parses FQDN[:CERTNAME].
func ParseWeb(s string) (WebSpec, error) {
	d, c, hasCert := strings.Cut(s, ":")
	if d == "" || (hasCert && c == "") || strings.ContainsAny(d, "/ ") {
		return WebSpec{}, fmt.Errorf("-w %q: want FQDN or FQDN:CERTNAME: %w", s, sdk.ErrInvalid)
	}
	return WebSpec{Domain: strings.ToLower(d), Cert: c}, nil
}

// Publish publishes ctr's port 80 at the domain and, with a CERTNAME, sets
// the domain's certificate from CERTNAME.crt and CERTNAME.key.
func (w WebSpec) Publish(ctx context.Context, loc *sdk.Location, ctr *sdk.Container) error {
	var cert, key []byte
	if w.Cert != "" {
		var err error
		if cert, err = os.ReadFile(w.Cert + ".crt"); err != nil {
			return fmt.Errorf("-w %s: certificate: %w", w.Domain, err)
		}
		if key, err = os.ReadFile(w.Cert + ".key"); err != nil {
			return fmt.Errorf("-w %s: certificate key: %w", w.Domain, err)
		}
	}
	if err := loc.Publish(ctx, w.Domain, ctr, 80); err != nil {
		return err
	}
	if w.Cert != "" {
		return loc.SetEndpointCert(ctx, w.Domain, cert, key)
	}
	return nil
}

package ociarchive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// busyboxTime is the mtime of every file BuildBusybox writes, so the same
// busybox binary always gives the same digests.
var busyboxTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	busyboxPasswd  = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	busyboxGroup   = "root:x:0:\nnobody:x:65534:\n"
	busyboxIndex   = "<!DOCTYPE html>\n<html><body><h1>tffs busybox</h1></body></html>\n"
	busyboxEnvPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
)

// busyboxConfig is the image config BuildBusybox writes (a subset of the
// OCI image config, with digests as plain strings).
type busyboxConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Env        []string `json:"Env"`
		Cmd        []string `json:"Cmd"`
		WorkingDir string   `json:"WorkingDir"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []busyboxHistory `json:"history"`
}

type busyboxHistory struct {
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// BuildBusybox writes a docker-save tarball at out holding one image named
// name (e.g. "busybox:latest"): a single uncompressed layer with
// /bin/busybox copied from busyboxPath (a static busybox, normally
// /bin/busybox from Debian's busybox-static), a /bin/<applet> symlink for
// every applet `busybox --list` prints, /etc/passwd and /etc/group with
// root and nobody, /tmp (1777), /root and /www/index.html. The config sets
// PATH, Cmd ["sh"] and the binary's architecture. Every file has a fixed
// mtime and owner 0, so the same binary always gives the same digests.
// The tarball is written to a temporary file beside out and renamed into
// place.
func BuildBusybox(busyboxPath, out, name string) error {
	return BuildBusyboxWith(busyboxPath, out, name)
}

// BuildBusyboxWith is BuildBusybox with extra entries appended to the
// layer (e.g. symlinks a test image ships); they are written as given, in
// PAX format, with BuildBusybox's fixed mtime.
func BuildBusyboxWith(busyboxPath, out, name string, extra ...*tar.Header) error {
	ref, err := normalizeName(name)
	if err != nil || ref == "" {
		return fmt.Errorf("build busybox: %w: bad image name %q", ErrInvalid, name)
	}
	arch, err := elfArch(busyboxPath)
	if err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	applets, err := busyboxApplets(busyboxPath)
	if err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	dir := filepath.Dir(out)
	layer, err := os.CreateTemp(dir, ".mkbusybox-layer-*")
	if err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	defer os.Remove(layer.Name())
	defer layer.Close()
	h := sha256.New()
	if err := writeBusyboxLayer(io.MultiWriter(layer, h), busyboxPath, applets, extra); err != nil {
		return fmt.Errorf("build busybox: layer: %w", err)
	}
	diffID := "sha256:" + hex.EncodeToString(h.Sum(nil))

	var c busyboxConfig
	c.Architecture, c.OS = arch, "linux"
	c.Config.Env = []string{busyboxEnvPath}
	c.Config.Cmd = []string{"sh"}
	c.Config.WorkingDir = "/"
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []string{diffID}
	c.History = []busyboxHistory{{Created: busyboxTime, CreatedBy: "tffs mkbusybox"}}
	cfg, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	return writeDockerSave(out, ref, diffID, cfg, layer)
}

// writeDockerSave writes a one-image docker-save tarball in the legacy
// layout `docker load` and containerd's importer both accept:
// <diffid hex>/layer.tar, <config hex>.json and manifest.json.
func writeDockerSave(out, ref, diffID string, cfg []byte, layer *os.File) (err error) {
	fi, err := layer.Stat()
	if err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if _, err := layer.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	layerDir := strings.TrimPrefix(diffID, "sha256:")
	cfgName := strings.TrimPrefix(digestOf(cfg), "sha256:") + ".json"
	manifest, err := json.Marshal([]dockerEntry{{
		Config:   cfgName,
		RepoTags: []string{ref},
		Layers:   []string{layerDir + "/layer.tar"},
	}})
	if err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkbusybox-*.tar")
	if err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	t := tarWriter{tw}
	if err := t.dir(layerDir, 0o755); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: layerDir + "/layer.tar", Mode: 0o644, Size: fi.Size()}); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if _, err := io.CopyN(tw, layer, fi.Size()); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if err := t.file(cfgName, 0o644, cfg); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if err := t.file("manifest.json", 0o644, manifest); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("build busybox: %w", err)
	}
	return nil
}

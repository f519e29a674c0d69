package ociarchive

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// elfArch returns the GOARCH-style architecture of a static ELF binary.
func elfArch(p string) (string, error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w: not an ELF executable: %v", p, ErrInvalid, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s: %w: dynamically linked (need busybox-static)", p, ErrInvalid)
		}
	}
	is64 := f.Class == elf.ELFCLASS64
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_RISCV:
		if is64 {
			return "riscv64", nil
		}
	case elf.EM_PPC64:
		if f.ByteOrder.String() == "LittleEndian" {
			return "ppc64le", nil
		}
		return "ppc64", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_LOONGARCH:
		return "loong64", nil
	}
	return "", fmt.Errorf("%s: %w: unsupported machine %v", p, ErrInvalid, f.Machine)
}

// busyboxApplets runs `busybox --list` and returns the applet names,
// sorted and checked to be plain file names.
func busyboxApplets(p string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, p, "--list")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w: %s", p, err, strings.TrimSpace(stderr.String()))
	}
	var applets []string
	for line := range strings.Lines(string(out)) {
		a := strings.TrimSpace(line)
		switch {
		case a == "" || a == "busybox":
			continue
		case a == "." || a == ".." || len(a) > 64 || strings.ContainsAny(a, "/\x00"):
			return nil, fmt.Errorf("%s --list: %w: odd applet name %q", p, ErrInvalid, a)
		}
		applets = append(applets, a)
	}
	slices.Sort(applets)
	applets = slices.Compact(applets)
	if _, found := slices.BinarySearch(applets, "sh"); !found {
		return nil, fmt.Errorf("%s: %w: no sh applet", p, ErrInvalid)
	}
	return applets, nil
}

// tarWriter writes deterministic USTAR entries owned by 0:0.
type tarWriter struct{ tw *tar.Writer }

func (t tarWriter) header(h *tar.Header) error {
	h.ModTime, h.Format = busyboxTime, tar.FormatUSTAR
	return t.tw.WriteHeader(h)
}

func (t tarWriter) dir(name string, mode int64) error {
	return t.header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode})
}

func (t tarWriter) file(name string, mode int64, data []byte) error {
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := t.tw.Write(data)
	return err
}

// copyFile streams the regular file src into the archive as name.
func (t tarWriter) copyFile(name string, mode int64, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file", src, ErrInvalid)
	}
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: fi.Size()}); err != nil {
		return err
	}
	if _, err := io.CopyN(t.tw, f, fi.Size()); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// writeBusyboxLayer writes the layer tar, in sorted order.
func writeBusyboxLayer(w io.Writer, busybox string, applets []string, extra []*tar.Header) error {
	tw := tar.NewWriter(w)
	t := tarWriter{tw}
	if err := t.dir("bin", 0o755); err != nil {
		return err
	}
	bin := append([]string{"busybox"}, applets...)
	slices.Sort(bin)
	for _, a := range bin {
		var err error
		if a == "busybox" {
			err = t.copyFile("bin/busybox", 0o755, busybox)
		} else {
			err = t.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777})
		}
		if err != nil {
			return err
		}
	}
	steps := []func() error{
		func() error { return t.dir("etc", 0o755) },
		func() error { return t.file("etc/group", 0o644, []byte(busyboxGroup)) },
		func() error { return t.file("etc/passwd", 0o644, []byte(busyboxPasswd)) },
		func() error { return t.dir("root", 0o700) },
		func() error { return t.dir("tmp", 0o1777) },
		func() error { return t.dir("www", 0o755) },
		func() error { return t.file("www/index.html", 0o644, []byte(busyboxIndex)) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	for _, h := range extra {
		h.ModTime, h.Format = busyboxTime, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	return tw.Close()
}

package cli

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tffs/tffs/sdk"
)

func TestEnvList(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/me", true
		}
		return "", false
	}
	got, err := EnvList([]string{"A=1", "HOME", "UNSET", "B=x=y", "C="}, lookup)
	want := []string{"A=1", "HOME=/home/me", "B=x=y", "C="}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("EnvList = %v, %v; want %v", got, err, want)
	}
	if _, err := EnvList([]string{"=v"}, lookup); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("-e =v: %v", err)
	}
}

func TestParseFile(t *testing.T) {
	for _, c := range []struct{ in, src, dest string }{
		{"a.txt:/etc/b.txt", "a.txt", "/etc/b.txt"},
		{"dir/a.txt:/opt/", "dir/a.txt", "/opt/a.txt"},
		{"a:/x/../y", "a", "/y"},
	} {
		f, err := ParseFile(c.in)
		if err != nil || f.Src != c.src || f.Dest != c.dest {
			t.Errorf("ParseFile(%q) = %+v, %v", c.in, f, err)
		}
	}
	for _, bad := range []string{"a.txt", ":/x", "a:", "a:relative"} {
		if _, err := ParseFile(bad); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("ParseFile(%q): %v, want ErrInvalid", bad, err)
		}
	}
	dir := t.TempDir()
	if _, err := (FileSpec{Src: dir, Dest: "/x"}).Option(); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("a directory as -f source: %v", err)
	}
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("x"), 0o600)
	if _, err := (FileSpec{Src: p, Dest: "/x"}).Option(); err != nil {
		t.Errorf("a file: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"100": 100, "1k": 1024, "512m": 512 << 20, "2G": 2 << 30, "7b": 7} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "m", "-1", "1.5g", "1t", "1 k"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}

func TestTokenRoundTrip(t *testing.T) {
	if _, err := DecodeToken("nonsense"); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("nonsense token: %v", err)
	}
	if _, err := DecodeToken(tokenPrefix + "!!!"); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("bad base64: %v", err)
	}
}

func TestImageCommand(t *testing.T) {
	args, wd := imageCommand([]byte(`{"config":{"Entrypoint":["/bin/app"],"Cmd":["-v"],"WorkingDir":"/srv"}}`))
	if !reflect.DeepEqual(args, []string{"/bin/app", "-v"}) || wd != "/srv" {
		t.Fatalf("imageCommand = %v %q", args, wd)
	}
}

func TestParseVolume(t *testing.T) {
	good := map[string]VolumeSpec{
		"data:/data":      {Volume: "data", Path: "/data"},
		"data:/srv/x/:ro": {Volume: "data", Path: "/srv/x", ReadOnly: true},
		"tagged:/mnt:rw":  {Volume: "tagged", Path: "/mnt"},
	}
	for in, want := range good {
		got, err := ParseVolume(in)
		if err != nil || got != want {
			t.Errorf("ParseVolume(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "data", ":/data", "data:rel", "data:/d:rx", "a:/b:ro:x"} {
		if _, err := ParseVolume(in); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("ParseVolume(%q): %v, want ErrInvalid", in, err)
		}
	}
}

func TestParsePortAndWeb(t *testing.T) {
	for in, want := range map[string]PortSpec{"8080:80": {8080, 80}, "0:22": {0, 22}, "443": {0, 443}} {
		if got, err := ParsePort(in); err != nil || got != want {
			t.Fatalf("ParsePort(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":80", "80:", "a:80", "1:0", "70000:80", "-1:80", "1:2:3", "08:80"} {
		if _, err := ParsePort(in); !errors.Is(err, sdk.ErrInvalid) {
			t.Fatalf("ParsePort(%q): %v, want ErrInvalid", in, err)
		}
	}
	if w, err := ParseWeb("Web.Example.com:/etc/certs/web"); err != nil || w != (WebSpec{"web.example.com", "/etc/certs/web"}) {
		t.Fatalf("ParseWeb: %v %v", w, err)
	}
	if w, err := ParseWeb("*.example.com"); err != nil || w != (WebSpec{"*.example.com", ""}) {
		t.Fatalf("ParseWeb: %v %v", w, err)
	}
	for _, in := range []string{"", ":cert", "web.example.com:", "a/b"} {
		if _, err := ParseWeb(in); !errors.Is(err, sdk.ErrInvalid) {
			t.Fatalf("ParseWeb(%q): %v, want ErrInvalid", in, err)
		}
	}
}

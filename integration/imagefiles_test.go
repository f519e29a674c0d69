package integration

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// TestImageFilesBeforeStart browses and reads an image's merged file tree
// through the master, the way files/ shows it before a container starts.
func TestImageFilesBeforeStart(t *testing.T) {
	env := testenv.Start(t)
	loc := env.Connect(t)
	ctx := testenv.Ctx(t, time.Minute)

	root, err := loc.ListImage(ctx, "busybox", "/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range root {
		names = append(names, fi.Name)
	}
	if got := strings.Join(names, " "); got != "/bin /etc /root /tmp /www" {
		t.Fatalf("root of busybox: %s", got)
	}
	bin, err := loc.ListImage(ctx, "busybox:latest", "/bin")
	if err != nil || len(bin) < 50 {
		t.Fatalf("bin: %d entries, %v", len(bin), err)
	}
	rc, fi, err := loc.FetchImageFile(ctx, "busybox", "/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !strings.HasPrefix(string(data), "root:") || int64(len(data)) != fi.Size {
		t.Fatalf("passwd %q (size %d) %v", data, fi.Size, err)
	}
	// /bin/sh is a link to busybox: reading it follows the link.
	rc, fi, err = loc.FetchImageFile(ctx, "busybox", "/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	io.ReadFull(rc, head)
	rc.Close()
	if string(head) != "\x7fELF" || fi.Size < 100000 {
		t.Fatalf("/bin/sh: %q, %d bytes", head, fi.Size)
	}

	for _, c := range []struct {
		what, image, path string
		fetch             bool
		want              error
	}{
		{"unknown image", "nosuch", "/", false, sdk.ErrNotFound},
		{"missing dir", "busybox", "/nosuch", false, sdk.ErrNotFound},
		{"list a file", "busybox", "/etc/passwd", false, sdk.ErrNotDir},
		{"relative path", "busybox", "etc", false, sdk.ErrInvalid},
		{"dot-dot", "busybox", "/etc/../../x", false, sdk.ErrInvalid},
		{"fetch a dir", "busybox", "/etc", true, sdk.ErrIsDir},
		{"fetch missing", "busybox", "/etc/nosuch", true, sdk.ErrNotFound},
		{"fetch dot-dot", "busybox", "/../etc/passwd", true, sdk.ErrInvalid},
	} {
		var err error
		if c.fetch {
			var rc io.ReadCloser
			if rc, _, err = loc.FetchImageFile(ctx, c.image, c.path); rc != nil {
				rc.Close()
			}
		} else {
			_, err = loc.ListImage(ctx, c.image, c.path)
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, err, c.want)
		}
	}
	// Another account does not see this account's images.
	other := env.Connect(t, sdk.WithKeyPair(env.NewAccount(t, "other")))
	if _, err := other.ListImage(ctx, "busybox", "/"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("another account listed busybox: %v", err)
	}
}

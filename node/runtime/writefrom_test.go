package runtime

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteFrom: a stream written in place lands at its offset in the
// container's file, leaving the rest of the file as it was; it refuses
// what WriteAt refuses (a missing file, a directory, a FIFO, a path
// leaving the root), and a reader's failure stops it.
func TestWriteFrom(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c := create(t, r, Spec{ID: "writefrom", Asleep: true})
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.WriteAt(ctx, "/tmp/a", 0, []byte("0123456789"), false, false); err == nil {
		t.Fatal("WriteAt of a missing file succeeded")
	}
	if _, err := c.Make(ctx, "/tmp/a", MakeSpec{Kind: MakeFile, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.WriteAt(ctx, "/tmp/a", 0, []byte("0123456789"), false, false); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("abcdefgh"), 200<<10) // 1.6 MB: several buffers
	n, size, err := c.WriteFrom(ctx, "/tmp/a", 4, bytes.NewReader(big))
	if err != nil || n != int64(len(big)) || size != int64(4+len(big)) {
		t.Fatalf("WriteFrom: %d bytes, size %d, %v", n, size, err)
	}
	got, err := c.ReadAt(ctx, "/tmp/a", 0, 16)
	if err != nil || string(got) != "0123abcdefghabcd" {
		t.Fatalf("read: %q %v", got, err)
	}
	// in the middle: the tail stays
	if _, _, err := c.WriteFrom(ctx, "/tmp/a", 2, strings.NewReader("XY")); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ReadAt(ctx, "/tmp/a", 0, 8); string(got) != "01XYabcd" {
		t.Fatalf("after a write in the middle: %q", got)
	}
	if _, err := c.Make(ctx, "/tmp/fifo", MakeSpec{Kind: MakeFIFO, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]error{
		"/tmp/missing": unix.ENOENT,
		"/tmp":         unix.EISDIR,
		"/tmp/fifo":    ErrInvalid,
	} {
		if _, _, err := c.WriteFrom(ctx, p, 0, strings.NewReader("x")); !errors.Is(err, want) {
			t.Errorf("WriteFrom %s: %v, want %v", p, err, want)
		}
	}
	// ".." stops at the container's root
	if _, _, err := c.WriteFrom(ctx, "/../../tmp/a", 0, strings.NewReader("QQ")); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ReadAt(ctx, "/tmp/a", 0, 4); string(got) != "QQXY" {
		t.Fatalf("after a write through /../..: %q", got)
	}
	if _, _, err := c.WriteFrom(ctx, "/tmp/a", -1, strings.NewReader("x")); !errors.Is(err, unix.EINVAL) {
		t.Errorf("negative offset: %v", err)
	}
	broken := io.MultiReader(strings.NewReader("zz"), iotestErr{})
	if _, _, err := c.WriteFrom(ctx, "/tmp/a", 0, broken); !errors.Is(err, errBrokenReader) {
		t.Errorf("a failing reader: %v", err)
	}
}

var errBrokenReader = errors.New("broken reader")

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errBrokenReader }

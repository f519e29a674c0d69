package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/cli"
	"github.com/tffs/tffs/internal/testenv"
)

// dirEntries lists what a client directory holds.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != dir {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

// TestInviteJoin: `tffs account invite` prints a token; `tffs join` with
// it makes a working client once; altered, reused and expired tokens are
// refused and change nothing. Then `tffs key export|import` moves that
// client to another directory, and `tffs location ls|use` see it.
func TestInviteJoin(t *testing.T) {
	env := testenv.Start(t)
	masterDir := filepath.Join(env.Dir, "master")
	accounts := func() string { return mustTffs(t, env.ClientDir, "account", "list", "--dir", masterDir) }
	token := strings.TrimSpace(mustTffs(t, env.ClientDir, "account", "invite", "alice", "--dir", masterDir))
	refused := func(what, token string) {
		t.Helper()
		dir := t.TempDir()
		_, stderr, code := tffsRunDir(t, dir, "join", token)
		if code != 1 || !strings.HasPrefix(stderr, "tffs: ") {
			t.Fatalf("%s token: code %d stderr %q, want refused", what, code, stderr)
		}
		if ls := dirEntries(t, dir); len(ls) != 0 {
			t.Fatalf("%s token left %v in the client dir", what, ls)
		}
	}

	inv, err := cli.DecodeToken(token)
	if err != nil {
		t.Fatal(err)
	}
	altered := inv
	altered.Secret = strings.Map(func(r rune) rune {
		if r == 'a' {
			return 'b'
		}
		return r
	}, inv.Secret[:20]) + inv.Secret[20:]
	if altered.Secret == inv.Secret {
		altered.Secret = "0" + inv.Secret[1:]
	}
	refused("altered", cli.EncodeToken(altered))
	refused("garbage", token[:len(token)-3]+"xyz")
	if strings.Contains(accounts(), "alice") {
		t.Fatal("alice admitted by a refused token")
	}

	joined := t.TempDir()
	if _, stderr, code := tffsRunDir(t, joined, "join", token); code != 0 {
		t.Fatalf("join: %d %s", code, stderr)
	}
	if !strings.Contains(accounts(), "alice\t") {
		t.Fatalf("alice not in the accounts: %q", accounts())
	}
	archive := filepath.Join(t.TempDir(), "busybox.tar") // images are per account
	if _, stderr, code := tffsRunDir(t, joined, "image", "busybox", archive); code != 0 {
		t.Fatalf("image busybox: %s", stderr)
	}
	if _, stderr, code := tffsRunDir(t, joined, "image", "import", archive); code != 0 {
		t.Fatalf("image import as the joined client: %s", stderr)
	}
	if out, stderr, code := tffsRunDir(t, joined, "run", "busybox", "echo", "hi"); code != 0 || out != "hi\n" {
		t.Fatalf("run as the joined client: %d %q %q", code, out, stderr)
	}
	refused("reused", token)

	short := strings.TrimSpace(mustTffs(t, env.ClientDir, "account", "invite", "bob", "--ttl", "1s", "--dir", masterDir))
	time.Sleep(1500 * time.Millisecond) // past its lifetime
	refused("expired", short)
	if strings.Contains(accounts(), "bob") {
		t.Fatal("bob admitted by an expired token")
	}

	// key export | key import: the same client elsewhere.
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	out, _, code := tffsRunDir(t, joined, "key", "export")
	if code != 0 || !strings.Contains(out, "client_secret") {
		t.Fatalf("key export: %d %q", code, out)
	}
	os.WriteFile(bundle, []byte(out), 0o600)
	moved := t.TempDir()
	if _, stderr, code := tffsRunDir(t, moved, "key", "import", bundle); code != 0 {
		t.Fatalf("key import: %d %s", code, stderr)
	}
	for _, f := range []string{"client.key", "locations/alice.json"} {
		fi, err := os.Stat(filepath.Join(moved, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s after import: %v %v", f, fi, err)
		}
	}
	if out, _, code := tffsRunDir(t, moved, "run", "busybox", "echo", "moved"); code != 0 || out != "moved\n" {
		t.Fatalf("run as the imported client: %d %q", code, out)
	}
	if out, _, _ := tffsRunDir(t, moved, "location", "ls"); !strings.HasPrefix(out, "* alice\t") {
		t.Fatalf("location ls: %q", out)
	}
	if _, stderr, code := tffsRunDir(t, moved, "location", "use", "nosuch"); code != 1 || !strings.Contains(stderr, "nosuch") {
		t.Fatalf("location use nosuch: %d %q", code, stderr)
	}
	if _, _, code := tffsRunDir(t, moved, "location", "use", "alice"); code != 0 {
		t.Fatalf("location use alice: %d", code)
	}
}

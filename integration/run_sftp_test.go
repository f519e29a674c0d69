package integration

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// TestRunSSHSftpSetstatAndRangedWrites: through `tffs run --ssh`, the
// OpenSSH sftp client's reput (a resumed upload, written at the remote
// file's end), put -p (times kept), chmod and chown change the file in the
// container; a Go sftp client writes into the middle of a file and
// truncates it.
func TestRunSSHSftpSetstatAndRangedWrites(t *testing.T) {
	r := startSSHRig(t)
	data := make([]byte, 1<<20+5)
	rand.Read(data)
	full, half := filepath.Join(r.dir, "full.bin"), filepath.Join(r.dir, "half.bin")
	os.WriteFile(full, data, 0o644)
	os.WriteFile(half, data[:len(data)/2], 0o644)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	kept := filepath.Join(r.dir, "kept.txt")
	os.WriteFile(kept, []byte("old times\n"), 0o644)
	os.Chtimes(kept, old, old)
	batch := filepath.Join(r.dir, "batch")
	os.WriteFile(batch, []byte(strings.Join([]string{
		"put " + half + " /tmp/f.bin",
		"reput " + full + " /tmp/f.bin",
		"chmod 600 /tmp/f.bin",
		"chown 1234 /tmp/f.bin",
		"put -p " + kept + " /tmp/kept.txt",
	}, "\n")+"\n"), 0o644)
	out, code := r.run(t, "", "sftp", append(r.opts(r.key), "-P", r.port, "-b", batch, "127.0.0.1")...)
	if code != 0 {
		t.Fatalf("sftp: %d\n%s", code, out)
	}
	if got, _ := r.ssh(t, "", "md5sum < /tmp/f.bin"); got != fmt.Sprintf("%x  -\n", md5.Sum(data)) {
		t.Fatalf("md5 in the container %q, want %x", got, md5.Sum(data))
	}
	back := filepath.Join(r.dir, "back.bin")
	if out, code := r.run(t, "", "scp", append(r.opts(r.key), "-P", r.port, "127.0.0.1:/tmp/f.bin", back)...); code != 0 {
		t.Fatalf("scp from: %d %s", code, out)
	}
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		i := 0
		for i < len(got) && i < len(data) && got[i] == data[i] {
			i++
		}
		t.Fatalf("after reput the file has %d bytes, want the %d of the whole; first difference at %d; found at %d; zero %v", len(got), len(data), i, bytes.Index(data, got[i:i+64]), bytes.Equal(got[i:i+64], make([]byte, 64)))
	}
	want := fmt.Sprintf("600 1234 %d\n", old.Unix())
	if got, _ := r.ssh(t, "", "echo $(stat -c '%a %u' /tmp/f.bin) $(stat -c %Y /tmp/kept.txt)"); got != want {
		t.Fatalf("mode, owner, mtime in the container: %q, want %q", got, want)
	}

	c := sftpClient(t, r)
	f, err := c.OpenFile("/tmp/f.bin", os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XYZ"), 10); err != nil {
		t.Fatalf("write at 10: %v", err)
	}
	if err := f.Truncate(16); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	wantBytes := append(append(append([]byte{}, data[:10]...), "XYZ"...), data[13:16]...)
	if got, _ := r.ssh(t, "", "od -An -tx1 -v /tmp/f.bin | tr -d ' \\n'"); got != fmt.Sprintf("%x", wantBytes) {
		t.Fatalf("after the seek-write and truncate: %s, want %x", got, wantBytes)
	}
	if err := c.Chmod("/tmp/nosuchfile", 0o600); err == nil {
		t.Fatal("chmod of a missing file succeeded")
	}
}

// sftpClient is a Go sftp client of the rig's server.
func sftpClient(t *testing.T, r *sshRig) *sftp.Client {
	t.Helper()
	pem, err := os.ReadFile(r.key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", net.JoinHostPort("127.0.0.1", r.port), &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

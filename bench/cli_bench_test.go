package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/tffs/tffs/internal/sshserve"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

// BenchmarkCLIRunTrue: `tffs run busybox true` (the binary: connect,
// spawn, wait, goodbye) against `docker run --rm busybox true` on a
// private Docker engine when dockerd is installed, else against the same
// spawn+wait through the SDK in this process (what the command line adds).
func BenchmarkCLIRunTrue(b *testing.B) {
	env := testenv.Start(b)
	bin := testenv.Binary(b)
	dk := startDocker(b, filepath.Join(env.Dir, "busybox.tar"))
	docker := dk != nil
	loc := env.Connect(b)
	ctx := context.Background()
	var ours, base []time.Duration
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "run", "busybox", "true")
		cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("tffs run: %v %s", err, out)
		}
		ours = append(ours, time.Since(t0))
		t0 = time.Now()
		if docker {
			dk.timed(b, "run", "--rm", "--network", "none", "busybox", "true")
		} else {
			ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("true"))
			if err != nil {
				b.Fatal(err)
			}
			ctr.Wait(ctx)
			ctr.Destroy(ctx)
		}
		base = append(base, time.Since(t0))
	}
	what := "tffs run busybox true vs SDK"
	if docker {
		what = "tffs run busybox true vs docker"
	}
	report(b, what, median(ours), median(base))
}

// BenchmarkSFTP100MB: sftp put and get of 100 MB through the --ssh server
// (pkg/sftp client over x/crypto/ssh, loopback) against the SDK's own
// Put/Fetch of the same file and, with a private Docker engine, `docker
// cp` in and out of a running container, in the same run.
func BenchmarkSFTP100MB(b *testing.B) {
	env := testenv.Start(b)
	loc := env.Connect(b)
	dk := startDocker(b, filepath.Join(env.Dir, "busybox.tar"))
	var dctr, local string
	if dk != nil {
		dctr = dk.sleeper(b)
		local = filepath.Join(b.TempDir(), "big")
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
	if err != nil {
		b.Fatal(err)
	}
	hostKey, err := sshserve.LoadHostKey(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go sshserve.New(ctr, hostKey, []ssh.PublicKey{signer.PublicKey()}, nil).Serve(ctx, ln)
	conn, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{User: "bench", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	data := make([]byte, 100<<20)
	rand.Read(data)
	mbps := func(d time.Duration) float64 { return 100 / d.Seconds() }
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		f, err := client.Create("/tmp/big")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		put := time.Since(t0)
		t0 = time.Now()
		g, err := client.Open("/tmp/big")
		if err != nil {
			b.Fatal(err)
		}
		var sink bytes.Buffer
		sink.Grow(len(data))
		g.WriteTo(&sink)
		g.Close()
		get := time.Since(t0)
		if !bytes.Equal(sink.Bytes(), data) {
			b.Fatal("sftp get returned other bytes")
		}
		t0 = time.Now()
		if err := ctr.PutReader(ctx, "/tmp/big2", bytes.NewReader(data), 0o644); err != nil {
			b.Fatal(err)
		}
		sdkPut := time.Since(t0)
		t0 = time.Now()
		rc, _, err := ctr.FetchReader(ctx, "/tmp/big2")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
		sdkGet := time.Since(t0)
		if dk != nil {
			os.WriteFile(local, data, 0o644)
			in := dk.timed(b, "cp", local, dctr+":/tmp/big")
			os.Remove(local)
			out := dk.timed(b, "cp", dctr+":/tmp/big", local)
			fmt.Printf("%-34s put %6.0f MB/s  get %6.0f MB/s   docker cp in %6.0f MB/s  out %6.0f MB/s   ratio put %.2f× get %.2f×\n",
				"sftp 100 MB vs docker cp", mbps(put), mbps(get), mbps(in), mbps(out), mbps(put)/mbps(in), mbps(get)/mbps(out))
		}
		b.ReportMetric(mbps(put), "MB/s-sftp-put")
		b.ReportMetric(mbps(get), "MB/s-sftp-get")
		fmt.Printf("%-34s put %6.0f MB/s  get %6.0f MB/s   SDK put %6.0f MB/s  fetch %6.0f MB/s   ratio put %.2f× get %.2f×\n",
			"sftp 100 MB via --ssh", mbps(put), mbps(get), mbps(sdkPut), mbps(sdkGet), mbps(put)/mbps(sdkPut), mbps(get)/mbps(sdkGet))
	}
}

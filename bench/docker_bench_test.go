package bench

// A private Docker engine as the baseline of the data-path figures (docker
// cp, docker run's output). It is not a prerequisite of the project: when
// dockerd is missing or does not start, the Docker rows are skipped with a
// message and the rest of the benchmark runs.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dockerEngine is a dockerd of the benchmark's own: its own data root,
// exec root, socket and pid file, no bridge and no iptables rules.
type dockerEngine struct {
	sock string
}

// dockerHint says how to get the Docker rows.
const dockerHint = "install Debian's engine for them: apt-get install -y docker.io"

// startDocker starts a private engine and loads the busybox image from
// tarball (a docker-save archive) into it; nil (with a message printed)
// when it cannot.
func startDocker(b *testing.B, tarball string) *dockerEngine {
	b.Helper()
	dockerd, err := exec.LookPath("dockerd")
	if err == nil {
		_, err = exec.LookPath("docker")
	}
	if err != nil {
		fmt.Printf("%-34s skipped: no dockerd/docker (%s)\n", "docker rows", dockerHint)
		return nil
	}
	dir, err := os.MkdirTemp("/tmp", "dkr-") // unix socket paths are short
	if err != nil {
		b.Fatal(err)
	}
	d := &dockerEngine{sock: filepath.Join(dir, "sock")}
	pidfile := filepath.Join(dir, "pid")
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(dockerd, "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+d.sock, "--pidfile", pidfile, "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		fmt.Printf("%-34s skipped: dockerd does not start: %v\n", "docker rows", err)
		os.RemoveAll(dir)
		return nil
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		exec.Command("umount", "-R", filepath.Join(dir, "data")).Run() // in case the engine left mounts
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := d.run(10*time.Second, "info"); err == nil {
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logf.Name())
			fmt.Printf("%-34s skipped: dockerd exited at start:\n%s\n", "docker rows", tail(log, 2000))
			return nil
		default:
		}
		if time.Now().After(deadline) {
			fmt.Printf("%-34s skipped: dockerd did not answer within 60 s\n", "docker rows")
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := d.run(2*time.Minute, "load", "-i", tarball); err != nil {
		fmt.Printf("%-34s skipped: docker load %s: %v\n%s\n", "docker rows", tarball, err, out)
		return nil
	}
	return d
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// run runs the docker CLI against the engine and returns its output.
func (d *dockerEngine) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", "unix://" + d.sock}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// timed runs the docker CLI and returns how long it took, failing the
// benchmark if it fails.
func (d *dockerEngine) timed(b *testing.B, args ...string) time.Duration {
	b.Helper()
	t0 := time.Now()
	if out, err := d.run(10*time.Minute, args...); err != nil {
		b.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return time.Since(t0)
}

// sleeper starts a busybox container running `sleep 1000` (removed at
// cleanup) and returns its id.
func (d *dockerEngine) sleeper(b *testing.B) string {
	b.Helper()
	id, err := d.run(time.Minute, "run", "-d", "--network", "none", "busybox", "sleep", "1000")
	if err != nil {
		b.Fatalf("docker run: %v\n%s", err, id)
	}
	b.Cleanup(func() { d.run(time.Minute, "rm", "-f", id) })
	return id
}

// runStdout times `docker run --rm busybox head -c size /dev/zero` with its
// output read to the end (discarded) and checks the byte count.
func (d *dockerEngine) runStdout(b *testing.B, size int) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "-H", "unix://"+d.sock, "run", "--rm", "--network", "none",
		"busybox", "head", "-c", strconv.Itoa(size), "/dev/zero")
	cw := &countWriter{}
	cmd.Stdout = cw
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("docker run: %v", err)
	}
	took := time.Since(t0)
	if cw.n != int64(size) {
		fmt.Printf("    docker run: read %d bytes of %d\n", cw.n, size)
	}
	return took
}

// countWriter counts and drops what is written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// ContainerdBinary is the containerd executable StartContainerd runs.
var ContainerdBinary = "/usr/bin/containerd"

// maxSocketPath is the longest unix socket path the kernel accepts (108
// bytes including the NUL) minus room for the ".ttrpc" suffix.
const maxSocketPath = 100

// Daemon is a private containerd (own root, state and socket under its
// directory) running as a child process of this one.
type Daemon struct {
	dir    string
	socket string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	log    *slog.Logger
	lock   *os.File // dir/lock, flock'ed while the daemon runs
}

// StartContainerd writes a config under dir, starts containerd with it and
// waits until its socket serves (or ctx ends). dir must be short: the
// socket dir/ctd.sock must fit in a unix socket path (about 100 bytes).
// The daemon's log goes to dir/containerd.log, its pid to dir/containerd.pid.
//
// The daemon dies with this process: it gets SIGKILL when the OS thread
// that started it exits, and that thread is kept for as long as the daemon
// runs. Only one daemon runs per dir (dir/lock is held); a daemon left on
// dir by an earlier process is stopped first. StartContainerd refuses to
// run where this process's root is not the root of its mount namespace
// (see CheckMountRoot).
func StartContainerd(ctx context.Context, dir string, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.Default()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "ctd.sock")
	if len(sock)+len(".ttrpc") > maxSocketPath {
		return nil, fmt.Errorf("containerd socket path %q too long: %w", sock, ErrInvalid)
	}
	if err := CheckMountRoot(); err != nil && !testNoChecks {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	if err := allowTraverse(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	d, err := startDaemon(dir, sock, lock, log)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if err := d.waitServing(ctx); err != nil {
		_ = d.Stop()
		return nil, err
	}
	log.Info("containerd started", "pid", d.cmd.Process.Pid, "socket", sock)
	return d, nil
}

// startDaemon stops a stale daemon on dir and starts ours; the caller
// holds dir's lock.
func startDaemon(dir, sock string, lock *os.File, log *slog.Logger) (*Daemon, error) {
	cfg := filepath.Join(dir, "config.toml")
	if err := stopStale(dir, cfg, log); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg, []byte(daemonConfig(dir, sock)), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(ContainerdBinary, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	d := &Daemon{dir: dir, socket: sock, cmd: cmd, done: make(chan struct{}), log: log, lock: lock}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the daemon exits,
		// not the process: lock this goroutine to its thread and keep it
		// (waiting for the daemon) as long as the daemon runs. No other
		// goroutine can run on it, so none can make it exit.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(d.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	if err := os.WriteFile(pidFile(dir), []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o600); err != nil {
		_ = cmd.Process.Kill()
		<-d.done
		return nil, err
	}
	return d, nil
}

// daemonConfig is the containerd 1.6 (config version 2) configuration.
func daemonConfig(dir, sock string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", filepath.Join(dir, "opt"))
}

// waitServing polls the socket until containerd answers.
func (d *Daemon) waitServing(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-d.done:
			return fmt.Errorf("containerd exited during startup (see %s)", filepath.Join(d.dir, "containerd.log"))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if _, err := os.Stat(d.socket); err == nil {
			c, err := client.New(d.socket, client.WithTimeout(time.Second))
			if err == nil {
				ok, err := c.IsServing(ctx)
				c.Close()
				if err == nil && ok {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return errors.New("containerd did not start serving within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Socket returns the path of the daemon's gRPC socket.
func (d *Daemon) Socket() string { return d.socket }

// Stop terminates containerd (SIGTERM, then SIGKILL after 10s), then kills
// any containerd shim that serves this daemon (with the container processes
// below it) and unmounts what is still mounted below the daemon's dir, so
// nothing keeps running. Call it after the Runtime has destroyed its
// containers (network namespaces of undestroyed containers are left for
// CleanupOrphans). Stop is idempotent.
func (d *Daemon) Stop() error {
	select {
	case <-d.done:
	default:
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			d.log.Warn("containerd did not stop on SIGTERM, killing")
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	n, err := killShims(d.socket)
	if n > 0 {
		d.log.Warn("killed leftover containerd shims", "count", n)
		time.Sleep(100 * time.Millisecond) // let the kernel tear the processes down
	}
	err = errors.Join(err, unmountBelow(d.dir))
	if d.lock != nil {
		_ = os.Remove(pidFile(d.dir))
		d.lock.Close() // releases the flock
		d.lock = nil
	}
	return err
}

// Done is closed when the containerd process has exited (after Stop, or on
// its own: killed, crashed).
func (d *Daemon) Done() <-chan struct{} { return d.done }

// ExitStatus describes how the containerd process ended ("signal: killed",
// "exit status 1"), with where its log is; "running" before it has.
func (d *Daemon) ExitStatus() string {
	select {
	case <-d.done:
		return fmt.Sprintf("%s (pid %d; log %s)", d.cmd.ProcessState, d.cmd.Process.Pid, filepath.Join(d.dir, "containerd.log"))
	default:
		return "running"
	}
}

// Probe reports whether the containerd at socket serves: nil if it
// answers, else why not. It is for a containerd the node does not own
// (a private one is watched through Done).
func Probe(ctx context.Context, socket string) error {
	c, err := client.New(socket, client.WithTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := c.IsServing(ctx)
	if err == nil && !ok {
		err = errors.New("not serving")
	}
	return err
}

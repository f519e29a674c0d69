package integration

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/tffs/tffs/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestRunCommandTTY drives `tffs run -ti busybox sh` through a pseudo-
// terminal: the prompt, a typed command's output, a resize seen by `stty
// size`, Ctrl-C interrupting a sleep with the shell surviving, the exit
// code of `exit 3`, and the local terminal restored afterwards.
func TestRunCommandTTY(t *testing.T) {
	env := testenv.Start(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Binary(t), "run", "-ti", "-e", "PS1=PROMPT> ", "busybox", "sh")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var out lockedBuffer
	go io.Copy(&out, ptmx)
	waitFor := func(what string, n int) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "terminal output "+what, func() bool {
			return strings.Count(out.String(), what) >= n
		})
	}
	typeLine := func(s string) { ptmx.Write([]byte(s + "\r")) }

	waitFor("PROMPT> ", 1)
	typeLine(`echo hel""lo`)
	waitFor("hello", 1)

	pty.Setsize(ptmx, &pty.Winsize{Rows: 33, Cols: 101})
	// The size reaches the container asynchronously: ask until it is there.
	testenv.Eventually(t, 30*time.Second, "stty size after the resize", func() bool {
		typeLine("stty size")
		time.Sleep(200 * time.Millisecond)
		return strings.Contains(out.String(), "33 101")
	})

	typeLine(`echo sl""eeping; sleep 1000`)
	waitFor("sleeping", 1)
	time.Sleep(300 * time.Millisecond) // let sleep start (correctness does not depend on it)
	ptmx.Write([]byte{3})              // Ctrl-C
	typeLine(`echo ali""ve`)
	waitFor("alive", 1) // a sleep not interrupted would hold this back for 1000s

	typeLine("exit 3")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("tffs run -ti did not end after exit; output:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit code %d, want 3; output:\n%s", code, out.String())
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag != after.Lflag || before.Iflag != after.Iflag || before.Oflag != after.Oflag {
		t.Fatalf("terminal not restored: before %+v after %+v", before, after)
	}

	// SIGTERM while attached: the session ends (130) and the terminal is
	// restored too.
	cmd = exec.Command(testenv.Binary(t), "run", "-ti", "-e", "PS1=SECOND> ", "busybox", "sh")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor("SECOND> ", 1)
	if raw, _ := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); raw.Lflag&unix.ICANON != 0 {
		t.Fatal("the terminal is not in raw mode while attached")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("tffs run -ti did not end after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit code after SIGTERM %d, want 130", code)
	}
	after, _ = unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if before.Lflag != after.Lflag || before.Iflag != after.Iflag || before.Oflag != after.Oflag {
		t.Fatalf("terminal not restored after SIGTERM: before %+v after %+v", before, after)
	}

	// No command: the image's own (busybox: sh) runs on the terminal.
	cmd = exec.Command(testenv.Binary(t), "run", "-ti", "-e", "PS1=THIRD> ", "busybox")
	cmd.Env = append(os.Environ(), "TFFS_DIR="+env.ClientDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor("THIRD> ", 1)
	typeLine("exit 0")
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tffs run -ti busybox: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tffs run -ti busybox did not end after exit")
	}
}

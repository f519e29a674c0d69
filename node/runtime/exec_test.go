package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuf is a goroutine-safe buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func run(t *testing.T, c *Container, spec ExecSpec) (int, string, string) {
	t.Helper()
	var out, errb syncBuf
	spec.Stdout, spec.Stderr = &out, &errb
	p, err := c.Exec(tctx(t), spec)
	if err != nil {
		t.Fatalf("exec %v: %v", spec.Args, err)
	}
	code, err := p.Wait(tctx(t))
	if err != nil {
		t.Fatalf("wait %v: %v", spec.Args, err)
	}
	return code, out.String(), errb.String()
}

func TestExec(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c := create(t, r, Spec{ID: "exec1", Asleep: true, Env: []string{"A=1"}})
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if c.Pid() == 0 {
		t.Fatal("no pid")
	}

	code, out, _ := run(t, c, ExecSpec{Args: []string{"cat"}, Stdin: strings.NewReader("hello stdin\n")})
	if code != 0 || out != "hello stdin\n" {
		t.Fatalf("cat: %d %q", code, out)
	}
	code, out, errs := run(t, c, ExecSpec{Args: []string{"sh", "-c", "echo $A $B; pwd; echo e >&2; exit 7"}, Env: []string{"B=2"}, Cwd: "/etc"})
	if code != 7 || out != "1 2\n/etc\n" || errs != "e\n" {
		t.Fatalf("sh: %d %q %q", code, out, errs)
	}
	if code, _, _ := run(t, c, ExecSpec{Args: []string{"false"}}); code != 1 {
		t.Fatalf("false: %d", code)
	}
	// Empty stdin: cat must see EOF at once.
	if code, out, _ := run(t, c, ExecSpec{Args: []string{"cat"}, Stdin: strings.NewReader("")}); code != 0 || out != "" {
		t.Fatalf("cat empty: %d %q", code, out)
	}

	// A streaming stdin: data arrives, then EOF.
	pr, pw := io.Pipe()
	var sout syncBuf
	p, err := c.Exec(ctx, ExecSpec{Args: []string{"cat"}, Stdin: pr, Stdout: &sout})
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("one\n"))
	waitFor(t, func() bool { return sout.String() == "one\n" })
	pw.Write([]byte("two\n"))
	pw.Close()
	if code, err := p.Wait(ctx); code != 0 || err != nil || sout.String() != "one\ntwo\n" {
		t.Fatalf("streaming cat: %d %v %q", code, err, sout.String())
	}

	// CloseStdin explicitly.
	pr2, _ := io.Pipe()
	p, err = c.Exec(ctx, ExecSpec{Args: []string{"cat"}, Stdin: pr2})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CloseStdin(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if code, err := p.Wait(wctx); code != 0 || err != nil {
		t.Fatalf("cat after CloseStdin: %d %v", code, err)
	}
	pr2.Close()

	// Kill.
	p, err = c.Exec(ctx, ExecSpec{Args: []string{"sleep", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.Wait(ctx); code != 137 {
		t.Fatalf("killed sleep: %d", code)
	}
	p, err = c.Exec(ctx, ExecSpec{Args: []string{"sleep", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Kill(ctx, syscall.SIGTERM)
	if code, _ := p.Wait(ctx); code != 143 {
		t.Fatalf("terminated sleep: %d", code)
	}

	// An orphan holding stdout open must not block Wait forever.
	start := time.Now()
	if code, out, _ := run(t, c, ExecSpec{Args: []string{"sh", "-c", "sleep 30 & echo bg"}}); code != 0 || out != "bg\n" {
		t.Fatalf("orphan: %d %q", code, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("orphan wait took %v", d)
	}

	// Main task kill: real exit code.
	if err := c.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code, err := c.Wait(ctx); code != 137 || err != nil {
		t.Fatalf("main killed: %d %v", code, err)
	}
	if _, err := c.Exec(ctx, ExecSpec{Args: []string{"true"}}); !errors.Is(err, ErrBusy) {
		t.Fatalf("exec after exit: %v", err)
	}
	if err := c.Kill(ctx, syscall.SIGKILL); !errors.Is(err, ErrBusy) {
		t.Fatalf("kill after exit: %v", err)
	}
}

func TestExecTTY(t *testing.T) {
	r := env(t)
	ctx := tctx(t)
	c := create(t, r, Spec{ID: "tty1", Asleep: true})
	if err := c.Start(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var out syncBuf
	p, err := c.Exec(ctx, ExecSpec{Args: []string{"sh", "-c", "tty; read x; stty size; echo got $x"}, TTY: true, Stdin: pr, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(out.String(), "/dev/pts/") })
	if err := p.Resize(ctx, 100, 40); err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("line\n"))
	if code, err := p.Wait(ctx); code != 0 || err != nil {
		t.Fatalf("tty exec: %d %v %q", code, err, out.String())
	}
	pw.Close()
	o := strings.ReplaceAll(out.String(), "\r", "")
	if !strings.Contains(o, "40 100\n") || !strings.Contains(o, "got line\n") {
		t.Fatalf("tty output %q", o)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met in 10s")
}

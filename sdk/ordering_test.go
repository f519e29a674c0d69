package sdk

import (
	"context"
	"errors"
	"testing"

	"github.com/tffs/tffs/protocol"
)

// The SDK's ordering of boots, exits and replies, against a fake master
// that answers in the orders a real link can produce.

// reboot starts c.Reboot on its own goroutine and returns its request and
// a channel with its result.
func rebootAsync(t *testing.T, ctx context.Context, c *Container, f *fakeConn) (*protocol.Msg, <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Reboot(ctx) }()
	return f.expect(t, protocol.OpReboot), done
}

func TestExitBeforeSpawnReply(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil, func() {
		f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 7, Boot: 1})
	})
	if code := waitCode(t, c); code != 7 {
		t.Fatalf("exit code %d, want 7 (the exit that beat the reply)", code)
	}
}

func TestOlderBootExitAfterRebootReplyIsDropped(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	req, done := rebootAsync(t, context.Background(), c, f)
	f.reply(req, protocol.BootReply{Boot: 2}, nil)
	if err := recvWithin(t, done); err != nil {
		t.Fatal(err)
	}
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 5, Boot: 1})
	f.sync(t, l)
	if exited, _ := c.Exited(); exited {
		t.Fatal("the old boot's exit ended the new boot")
	}
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 9, Boot: 2})
	if code := waitCode(t, c); code != 9 {
		t.Fatalf("exit code %d, want 9", code)
	}
}

func TestSupersededBootExitBeforeRebootReplyIsDropped(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	req, done := rebootAsync(t, context.Background(), c, f)
	// The reboot kills boot 1 on the node: its exit comes before the reply.
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 137, Boot: 1})
	f.reply(req, protocol.BootReply{Boot: 2}, nil)
	if err := recvWithin(t, done); err != nil {
		t.Fatal(err)
	}
	f.sync(t, l)
	if exited, code := c.Exited(); exited {
		t.Fatalf("the superseded boot's exit (%d) ended the new boot", code)
	}
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 4, Boot: 2})
	if code := waitCode(t, c); code != 4 {
		t.Fatalf("exit code %d, want 4", code)
	}
}

func TestRebootRepliesOutOfOrder(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	reqA, doneA := rebootAsync(t, context.Background(), c, f)
	reqB, doneB := rebootAsync(t, context.Background(), c, f)
	// The node carried out B first (boot 2) and A last (boot 3), but the
	// replies come in the other order: the boot numbers decide.
	f.reply(reqA, protocol.BootReply{Boot: 3}, nil)
	f.reply(reqB, protocol.BootReply{Boot: 2}, nil)
	for _, d := range []<-chan error{doneA, doneB} {
		if err := recvWithin(t, d); err != nil {
			t.Fatal(err)
		}
	}
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 2, Boot: 2})
	f.sync(t, l)
	if exited, _ := c.Exited(); exited {
		t.Fatal("boot 2's exit ended boot 3")
	}
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 3, Boot: 3})
	if code := waitCode(t, c); code != 3 {
		t.Fatalf("exit code %d, want 3 (boot 3, the newest)", code)
	}
}

func TestCancelledRebootThenLateReply(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 3, Boot: 1})
	if code := waitCode(t, c); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, done := rebootAsync(t, ctx, c, f)
	cancel()
	if err := recvWithin(t, done); !errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled reboot: %v, want ErrTimeout", err)
	}
	// The old boot answers again.
	if code := waitCode(t, c); code != 3 {
		t.Fatalf("wait after a cancelled reboot: %d, want 3", code)
	}
	// The reboot happened after all: its late reply makes boot 2 current.
	f.reply(req, protocol.BootReply{Boot: 2}, nil)
	eventually(t, "the late reply's boot current", func() bool {
		exited, _ := c.Exited()
		return !exited
	})
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 8, Boot: 2})
	if code := waitCode(t, c); code != 8 {
		t.Fatalf("exit code %d, want 8 (the late boot's)", code)
	}
}

func TestCancelledRebootLateReplyAfterNewerReboot(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	reqA, doneA := rebootAsync(t, ctx, c, f)
	cancel()
	if err := recvWithin(t, doneA); !errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled reboot: %v", err)
	}
	reqB, doneB := rebootAsync(t, context.Background(), c, f)
	f.reply(reqB, protocol.BootReply{Boot: 3}, nil)
	if err := recvWithin(t, doneB); err != nil {
		t.Fatal(err)
	}
	f.reply(reqA, protocol.BootReply{Boot: 2}, nil) // late and older: dropped
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 2, Boot: 2})
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 6, Boot: 3})
	if code := waitCode(t, c); code != 6 {
		t.Fatalf("exit code %d, want 6 (boot 3)", code)
	}
}

func TestCancelledSpawnLateReplyDestroys(t *testing.T) {
	l, f := newFakeLocation(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.Node().SpawnContainer(ctx, "busybox")
		done <- err
	}()
	req := f.expect(t, protocol.OpSpawn)
	cancel()
	if err := recvWithin(t, done); !errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled spawn: %v", err)
	}
	f.reply(req, protocol.SpawnReply{ID: "c9", Name: "web", Node: "n1", Boot: 1}, nil)
	d := f.expect(t, protocol.OpDestroy)
	if d.Container != "c9" {
		t.Fatalf("destroy of %q, want c9", d.Container)
	}
	f.reply(d, protocol.Empty{}, nil)
	if n := len(l.Containers()); n != 0 {
		t.Fatalf("%d containers recorded after a cancelled spawn", n)
	}
}

func TestProcExitBeforeExecReply(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	type res struct {
		p   *Process
		err error
	}
	done := make(chan res, 1)
	go func() {
		p, err := c.Spawn(context.Background(), []string{"true"})
		done <- res{p, err}
	}()
	req := f.expect(t, protocol.OpExec)
	var er protocol.ExecRequest
	if err := req.DecodeBody(&er); err != nil {
		t.Fatal(err)
	}
	f.event(t, protocol.EvProcExit, protocol.ProcExit{Container: "c1", Proc: er.Proc, Code: 5})
	f.reply(req, protocol.Empty{}, nil)
	r := recvWithin(t, done)
	if r.err != nil {
		t.Fatal(r.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	if code, err := r.p.Wait(ctx); err != nil || code != 5 {
		t.Fatalf("process wait: %d %v, want 5", code, err)
	}
}

func TestCloseFromCallback(t *testing.T) {
	l, f := newFakeLocation(t)
	closed := make(chan error, 1)
	spawnFake(t, l, f, "c1", 1, []SpawnOption{OnExit(func(int) { closed <- l.Close() })})
	f.event(t, protocol.EvContainerExit, protocol.ContainerExit{Container: "c1", Code: 0, Boot: 1})
	if err := recvWithin(t, closed); err != nil {
		t.Fatalf("close from a callback: %v", err)
	}
	if _, err := l.ListContainers(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a call after Close: %v, want ErrUnavailable", err)
	}
}

func TestLinkResetFailsCallsAndStreams(t *testing.T) {
	l, f := newFakeLocation(t)
	c := spawnFake(t, l, f, "c1", 1, nil)
	// A call in flight.
	callDone := make(chan error, 1)
	go func() {
		_, err := l.ListContainers(context.Background())
		callDone <- err
	}()
	f.expect(t, protocol.OpList)
	// A fetch whose stream is open.
	fetchDone := make(chan error, 1)
	go func() {
		_, err := c.Fetch(context.Background(), "/big")
		fetchDone <- err
	}()
	f.reply(f.expect(t, protocol.OpFileFetch), protocol.FileInfo{Size: 1 << 20}, nil)
	// A running process.
	pDone := make(chan *Process, 1)
	go func() {
		p, err := c.Spawn(context.Background(), []string{"sleep", "1000"})
		if err != nil {
			t.Error(err)
		}
		pDone <- p
	}()
	f.reply(f.expect(t, protocol.OpExec), protocol.Empty{}, nil)
	p := recvWithin(t, pDone)

	f.in <- &protocol.Msg{Kind: protocol.KindLinkReset, Err: protocol.WireError(ErrUnavailable)}
	for what, ch := range map[string]<-chan error{"call": callDone, "fetch": fetchDone} {
		if err := recvWithin(t, ch); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s after a link reset: %v, want ErrUnavailable", what, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("process wait after a link reset: %v, want ErrUnavailable", err)
	}
	// The resync reads the exits again: the container exited meanwhile.
	f.reply(f.expect(t, protocol.OpList), protocol.ContainerList{Containers: []protocol.ContainerInfo{{ID: "c1", Exited: true, Exit: 4}}}, nil)
	if code := waitCode(t, c); code != 4 {
		t.Fatalf("exit after the resync: %d, want 4", code)
	}
}

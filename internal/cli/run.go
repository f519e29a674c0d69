package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/tffs/tffs/sdk"
)

// RunOptions is one `tffs run`.
type RunOptions struct {
	Image       string
	Args        []string // the command; empty = the image's
	Env         []string // KEY=VALUE (see EnvList)
	Files       []FileSpec
	Volumes     []VolumeSpec // -m: the container runs on their node
	Ports       []PortSpec   // -p: tunnels for the run's life
	Web         []WebSpec    // -w: port 80 published at domains
	Asleep      bool         // -z: no main workload; Args, if any, run as a process
	Name, Tag   string
	Node        string // "" = the location's choice
	CPUs        float64
	Memory      int64
	TTY         bool // -t: the command runs on a terminal
	Interactive bool // -i: local stdin goes to the command

	Stdin          *os.File
	Stdout, Stderr io.Writer

	// Sync lists LOCALDIR:/path pairs mirrored into the container while
	// it runs (see dirsync); a command run as a process starts after the
	// initial copies.
	Sync []string

	// Started, if set, is called once the container exists (e.g. to serve
	// ssh into it); an error from it ends the run.
	Started func(ctx context.Context, ctr *sdk.Container) error
}

// destroyTimeout bounds the destroy of the container at the end of a run.
const destroyTimeout = 10 * time.Second

// Run spawns the container, streams its output (or attaches the terminal)
// and returns the exit code of its command. A cancelled ctx (Ctrl-C,
// SIGTERM) destroys the container and returns Interrupted.
func Run(ctx context.Context, loc *sdk.Location, o RunOptions) (int, error) {
	var node *sdk.Node
	if o.Node != "" {
		n, err := loc.NodeNamed(o.Node)
		if err != nil {
			return 1, err
		}
		node = n
	} else if len(o.Volumes) > 0 {
		node = loc.AnyNode() // the location places it with its volumes
	} else if node = loc.Node(); node == nil {
		return 1, fmt.Errorf("the location has no node: %w", sdk.ErrUnavailable)
	}
	opts := []sdk.SpawnOption{sdk.Env(o.Env...)}
	for _, f := range o.Files {
		opt, err := f.Option()
		if err != nil {
			return 1, err
		}
		opts = append(opts, opt)
	}
	for _, v := range o.Volumes {
		opts = append(opts, v.Option())
	}
	if o.Name != "" {
		opts = append(opts, sdk.Name(o.Name))
	}
	if o.Tag != "" {
		opts = append(opts, sdk.Tag(o.Tag))
	}
	if o.CPUs > 0 {
		opts = append(opts, sdk.CPUs(o.CPUs))
	}
	if o.Memory > 0 {
		opts = append(opts, sdk.Memory(o.Memory))
	}
	// A command with a terminal or stdin, or in an asleep container, runs
	// as a process of a container started asleep.
	asProcess := o.TTY || o.Interactive || o.Asleep
	args := o.Args
	var workDir string
	if asProcess {
		opts = append(opts, sdk.Asleep())
		if len(args) == 0 && !o.Asleep {
			img, err := loc.DescribeImage(ctx, o.Image)
			if err != nil {
				return 1, err
			}
			args, workDir = imageCommand(img.Config)
			if len(args) == 0 {
				return 1, fmt.Errorf("image %s has no command; give one: %w", o.Image, sdk.ErrInvalid)
			}
		}
	} else {
		opts = append(opts,
			sdk.OnStdout(func(b []byte) { o.Stdout.Write(b) }),
			sdk.OnStderr(func(b []byte) { o.Stderr.Write(b) }))
		if len(args) > 0 {
			opts = append(opts, sdk.Command(args...))
		}
	}
	ctr, err := node.SpawnContainer(ctx, o.Image, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return Interrupted, nil
		}
		return 1, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), destroyTimeout)
		defer cancel()
		ctr.Destroy(dctx)
	}()
	for _, p := range o.Ports {
		tun, err := ctr.AttachTunnel(ctx, p.Remote, p.Local)
		if err != nil {
			if ctx.Err() != nil {
				return Interrupted, nil
			}
			return 1, err
		}
		defer tun.Close()
		fmt.Fprintf(o.Stderr, "port %d of %s on %s\n", p.Remote, ctr.Name, tun.Addr())
	}
	for _, w := range o.Web {
		if err := w.Publish(ctx, loc, ctr); err != nil {
			if ctx.Err() != nil {
				return Interrupted, nil
			}
			return 1, err
		}
		fmt.Fprintf(o.Stderr, "port 80 of %s published at %s\n", ctr.Name, w.Domain)
	}
	if o.Started != nil {
		if err := o.Started(ctx, ctr); err != nil {
			return 1, err
		}
	}
	if err := startSyncs(ctx, ctr, o.Sync); err != nil {
		if ctx.Err() != nil {
			return Interrupted, nil
		}
		return 1, err
	}
	if !asProcess {
		code, err := ctr.Wait(ctx)
		if ctx.Err() != nil {
			return Interrupted, nil
		}
		return code, err
	}
	if len(args) == 0 { // -z alone: the container lives until Ctrl-C
		fmt.Fprintf(o.Stderr, "container %s (%s) is up asleep — Ctrl-C destroys it\n", ctr.Name, ctr.ID)
		select {
		case <-ctx.Done():
			return Interrupted, nil
		case <-ctr.Gone():
			return 1, fmt.Errorf("container %s is gone: %w", ctr.Name, sdk.ErrUnavailable)
		}
	}
	return runProcess(ctx, ctr, args, workDir, o)
}

// runProcess runs args in ctr with the local terminal or stdin attached.
func runProcess(ctx context.Context, ctr *sdk.Container, args []string, workDir string, o RunOptions) (int, error) {
	var popts []sdk.ProcOption
	if len(o.Env) > 0 {
		popts = append(popts, sdk.ProcEnv(o.Env...))
	}
	if workDir != "" {
		popts = append(popts, sdk.ProcDir(workDir))
	}
	var term *Terminal
	if o.TTY {
		t, err := OpenTerminal(o.Stdin)
		if err != nil {
			return 1, err
		}
		term = t
		w, h := term.Size()
		popts = append(popts, sdk.TTY(w, h))
	}
	p, err := ctr.Spawn(ctx, args, popts...)
	if err != nil {
		if term != nil {
			term.Restore()
		}
		if ctx.Err() != nil {
			return Interrupted, nil
		}
		return 1, err
	}
	if term != nil {
		defer term.Restore()
		if o.Interactive {
			if err := term.MakeRaw(); err != nil {
				return 1, err
			}
		}
		stop := term.WatchResize(func(w, h uint32) {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			p.Resize(rctx, w, h)
		})
		defer stop()
	}
	if o.Interactive {
		go func() {
			io.Copy(p.Stdin, o.Stdin)
			if !o.TTY {
				p.Stdin.Close()
			}
		}()
	} else {
		p.Stdin.Close()
	}
	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); io.Copy(o.Stdout, p.Stdout) }()
	go func() { defer copies.Done(); io.Copy(o.Stderr, p.Stderr) }()
	code, err := p.Wait(ctx)
	if ctx.Err() != nil {
		return Interrupted, nil
	}
	drained := make(chan struct{})
	go func() { copies.Wait(); close(drained) }()
	select { // the node ends the output streams before it reports the exit
	case <-drained:
	case <-time.After(5 * time.Second):
	}
	if err != nil && errors.Is(err, sdk.ErrUnavailable) {
		return 1, err
	}
	return code, err
}

// imageCommand returns an image config's entrypoint+cmd and working
// directory.
func imageCommand(config []byte) ([]string, string) {
	var c struct {
		Config struct {
			Entrypoint []string
			Cmd        []string
			WorkingDir string
		} `json:"config"`
	}
	if json.Unmarshal(config, &c) != nil {
		return nil, ""
	}
	return append(append([]string{}, c.Config.Entrypoint...), c.Config.Cmd...), c.Config.WorkingDir
}

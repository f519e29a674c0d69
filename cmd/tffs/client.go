package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

func connect(ctx context.Context, location string) (*sdk.Location, error) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return sdk.Connect(cctx, sdk.WithLocation(location))
}

func printKey(args []string) error {
	kp, err := sdk.ClientKey(protocol.DefaultDir())
	if err != nil {
		return err
	}
	fmt.Println(kp.Public)
	return nil
}

func imageCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: tffs image import FILE|DIR | list | busybox OUT")
	}
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	locName := fs.String("location", "", "location name (default: the default location)")
	name := fs.String("name", "busybox:latest", "image name (busybox)")
	bb := fs.String("busybox", "/bin/busybox", "busybox-static binary (busybox)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch {
	case args[0] == "busybox" && fs.NArg() == 1:
		return ociarchive.BuildBusybox(*bb, fs.Arg(0), *name)
	case args[0] == "import" && fs.NArg() == 1:
		loc, err := connect(ctx, *locName)
		if err != nil {
			return err
		}
		defer loc.Close()
		last := time.Time{}
		names, err := loc.ImportImages(ctx, fs.Arg(0), func(p sdk.Progress) {
			if time.Since(last) > 200*time.Millisecond || p.Sent == p.Total {
				last = time.Now()
				fmt.Fprintf(os.Stderr, "\r%s: %d/%d bytes uploaded (%d layers already there)", p.Image, p.Sent, p.Total, p.Skipped)
			}
		})
		fmt.Fprintln(os.Stderr)
		for _, n := range names {
			fmt.Println(n)
		}
		return err
	case args[0] == "list":
		loc, err := connect(ctx, *locName)
		if err != nil {
			return err
		}
		defer loc.Close()
		imgs, err := loc.Images(ctx)
		for _, img := range imgs {
			var size int64
			for _, l := range img.Layers {
				size += l.Size
			}
			fmt.Printf("%s\t%s\t%d layers\t%d bytes\n", img.Name, img.ConfigDigest[:19], len(img.Layers), size)
		}
		return err
	}
	return fmt.Errorf("usage: tffs image import FILE|DIR | list | busybox OUT")
}

func runCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	locName := fs.String("location", "", "location name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("usage: tffs run IMAGE [CMD...]")
	}
	loc, err := connect(ctx, *locName)
	if err != nil {
		return err
	}
	defer loc.Close()
	opts := []sdk.SpawnOption{
		sdk.OnStdout(func(b []byte) { os.Stdout.Write(b) }),
		sdk.OnStderr(func(b []byte) { os.Stderr.Write(b) }),
	}
	if fs.NArg() > 1 {
		opts = append(opts, sdk.Command(fs.Args()[1:]...))
	}
	ctr, err := loc.Node().SpawnContainer(ctx, fs.Arg(0), opts...)
	if err != nil {
		return err
	}
	code, err := ctr.Wait(ctx)
	if err != nil {
		return err
	}
	return exitCode(code)
}

func resources(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("resources", flag.ContinueOnError)
	locName := fs.String("location", "", "location name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	loc, err := connect(ctx, *locName)
	if err != nil {
		return err
	}
	defer loc.Close()
	o, err := loc.RefreshOffer(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(o)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/tffs/tffs/internal/cli"
	"github.com/tffs/tffs/internal/dockerimg"
	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

func keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "print this machine's client public key", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kp, err := sdk.ClientKey(protocol.DefaultDir())
			if err != nil {
				return err
			}
			fmt.Println(kp.Public)
			return nil
		}}
	cmd.AddCommand(keyExportCmd(), keyImportCmd())
	return cmd
}

func imageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "manage images"}
	bb := &cobra.Command{Use: "busybox OUT", Short: "build the busybox test image archive from busybox-static", Args: usageArgs(1)}
	name := bb.Flags().String("name", "busybox:latest", "image name")
	bin := bb.Flags().String("busybox", "/bin/busybox", "busybox-static binary")
	bb.RunE = func(cmd *cobra.Command, args []string) error { return ociarchive.BuildBusybox(*bin, args[0], *name) }
	imp := &cobra.Command{Use: "import FILE|DIR", Short: "upload the images of a docker-save/OCI archive or OCI layout", Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			loc, err := cli.Connect(ctx, "", locationFlag)
			if err != nil {
				return err
			}
			defer loc.Close()
			last := time.Time{}
			names, err := loc.ImportImages(ctx, args[0], func(p sdk.Progress) {
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
		}}
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "list the account's images", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			loc, err := cli.Connect(ctx, "", locationFlag)
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
		}}
	describe := &cobra.Command{Use: "describe IMAGE|.", Short: "print an image's config as JSON (from the location, else the local Docker engine)", Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocation(cmd, func(ctx context.Context, loc *sdk.Location) error {
				return images(loc).Describe(ctx, args[0], os.Stdout)
			})
		}}
	push := &cobra.Command{Use: "push IMAGE|.", Short: "upload an image from the local Docker engine (only the layers the location lacks)", Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocation(cmd, func(ctx context.Context, loc *sdk.Location) error {
				name, err := images(loc).Push(ctx, args[0])
				if err == nil {
					fmt.Println(name)
				}
				return err
			})
		}}
	rm := &cobra.Command{Use: "rm IMAGE...", Aliases: []string{"remove"}, Short: "remove images from the location (running containers keep theirs)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocation(cmd, func(ctx context.Context, loc *sdk.Location) error {
				for _, name := range args {
					if err := loc.RemoveImage(ctx, name); err != nil {
						return err
					}
				}
				return nil
			})
		}}
	cmd.AddCommand(bb, imp, list, describe, push, rm)
	return cmd
}

func runCmd() *cobra.Command {
	var o cli.RunOptions
	var env, files, vols, ports, webs []string
	cmd := &cobra.Command{Use: "run [flags] IMAGE|. [CMD [ARG...]]", Short: "spawn a container, stream its output (or attach the terminal), exit with its code",
		Args: cobra.MinimumNArgs(1)}
	fs := cmd.Flags()
	fs.SetInterspersed(false) // flags after IMAGE belong to the command
	fs.StringArrayVarP(&env, "env", "e", nil, "VAR=value, or VAR to copy the local value (repeatable)")
	fs.StringArrayVarP(&files, "file", "f", nil, "SRC:DEST: write a local file into the container before it boots; DEST ending in / takes SRC's name (repeatable)")
	fs.StringArrayVarP(&vols, "volume", "m", nil, "VOL:/path[:ro]: mount a volume of yours (name or tag); the container runs on its node (repeatable)")
	fs.StringArrayVarP(&ports, "publish", "p", nil, "LOCAL:REMOTE: tunnel 127.0.0.1:LOCAL to the container's REMOTE port for the run's life; LOCAL 0 picks a free port (printed on stderr) (repeatable)")
	fs.StringArrayVarP(&webs, "web", "w", nil, "FQDN[:CERTNAME]: publish the container's port 80 at FQDN through the location's web gateway; with CERTNAME, HTTPS too with the PEM files CERTNAME.crt (chain) and CERTNAME.key (repeatable)")
	fs.BoolVarP(&o.Asleep, "sleep", "z", false, "start the container asleep (CMD, if given, runs as a process in it)")
	fs.StringVar(&o.Name, "name", "", "container name (unique in the session)")
	fs.StringVar(&o.Tag, "tag", "", "container tag (unique among the account's containers)")
	fs.StringVar(&o.Node, "node", "", "node to run on (default: the location's choice)")
	fs.Float64VarP(&o.CPUs, "cpus", "c", 0, "CPU limit (fractions allowed)")
	memory := fs.String("memory", "", "memory limit: bytes, or with a k, m or g suffix")
	fs.BoolVarP(&o.TTY, "tty", "t", false, "run the command on a terminal")
	fs.BoolVarP(&o.Interactive, "interactive", "i", false, "send local standard input to the command")
	sshPort := fs.Int("ssh", -1, "serve ssh (exec, shell, sftp, scp) into the container on 127.0.0.1:PORT (0: any free port)")
	fs.StringArrayVar(&o.Sync, "sync", nil, "LOCALDIR:/path: copy a local directory into the container and push every local change (repeatable)")
	asUnit := fs.Bool("systemd", false, "write a systemd unit that runs this command line as a service (Restart=always) instead of running it")
	unitDir := fs.String("unit-dir", defaultUnitDir, "where --systemd writes the unit")
	sshKeys := fs.String("ssh-keys", "", "authorized_keys file for --ssh (default ~/.ssh/authorized_keys)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		var err error
		if *sshPort >= 0 {
			if o.Started, err = cli.SSHStarter(*sshPort, *sshKeys, "", os.Stderr); err != nil {
				return err
			}
		}
		if o.Env, err = cli.EnvList(env, os.LookupEnv); err != nil {
			return err
		}
		if o.Files, err = parseAll(files, cli.ParseFile); err != nil {
			return err
		}
		if o.Volumes, err = parseAll(vols, cli.ParseVolume); err != nil {
			return err
		}
		if o.Ports, err = parseAll(ports, cli.ParsePort); err != nil {
			return err
		}
		if o.Web, err = parseAll(webs, cli.ParseWeb); err != nil {
			return err
		}
		if *memory != "" {
			if o.Memory, err = cli.ParseBytes(*memory); err != nil {
				return err
			}
		}
		o.Image, o.Args = args[0], args[1:]
		if *asUnit {
			name := o.Name
			if name == "" {
				name = o.Image
			}
			return runUnit(*unitDir, name, os.Args[1:])
		}
		o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
		loc, err := cli.Connect(ctx, "", locationFlag)
		if err != nil {
			return err
		}
		defer loc.Close()
		if o.Image, err = images(loc).Resolve(ctx, o.Image); err != nil {
			return err
		}
		code, err := cli.Run(ctx, loc, o)
		if err != nil {
			return err
		}
		if code != 0 {
			return cli.ExitCode(code)
		}
		return nil
	}
	return cmd
}

// images finds images in loc, else in the local Docker engine.
func images(loc *sdk.Location) cli.Images {
	return cli.Images{Loc: loc, Engine: dockerimg.New(""), Progress: os.Stderr}
}

// withLocation runs f with a session of the --location location.
func withLocation(cmd *cobra.Command, f func(context.Context, *sdk.Location) error) error {
	ctx := cmd.Context()
	loc, err := cli.Connect(ctx, "", locationFlag)
	if err != nil {
		return err
	}
	defer loc.Close()
	return f(ctx, loc)
}

func resourcesCmd() *cobra.Command {
	return &cobra.Command{Use: "resources", Short: "print the resource offer", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			loc, err := cli.Connect(ctx, "", locationFlag)
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
		}}
}

// parseAll parses each value of a repeatable flag.
func parseAll[T any](values []string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, v := range values {
		spec, err := parse(v)
		if err != nil {
			return nil, err
		}
		out = append(out, spec)
	}
	return out, nil
}

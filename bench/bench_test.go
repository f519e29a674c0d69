package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/node"
	"github.com/tffs/tffs/sdk"
)

const rounds = 10

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func report(b *testing.B, what string, ours, base time.Duration) {
	b.ReportMetric(float64(ours.Microseconds())/1000, "ms-tffs")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms-baseline")
	b.ReportMetric(float64(ours)/float64(base), "ratio")
	fmt.Printf("%-34s tffs %8.1f ms   baseline %8.1f ms   ratio %.2f×\n", what,
		float64(ours.Microseconds())/1000, float64(base.Microseconds())/1000, float64(ours)/float64(base))
}

// rawClient is the baseline: containerd's own client, on the node's
// containerd, with the same busybox image in a namespace of its own, and
// containerd's plain default spec (no user namespace, no seccomp filter).
type rawClient struct {
	client *containerd.Client
	ctx    context.Context
	image  containerd.Image
}

func newRaw(b *testing.B, env *testenv.Env) *rawClient {
	client, err := containerd.New(env.Loc.ContainerdSocket())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	ctx := namespaces.WithNamespace(context.Background(), "bench-raw")
	f, err := os.Open(filepath.Join(env.Dir, "busybox.tar"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	imgs, err := client.Import(ctx, f)
	if err != nil || len(imgs) == 0 {
		b.Fatalf("import: %v", err)
	}
	img := containerd.NewImage(client, imgs[0])
	if err := img.Unpack(ctx, "overlayfs"); err != nil {
		b.Fatal(err)
	}
	return &rawClient{client: client, ctx: ctx, image: img}
}

func (r *rawClient) createStart(b *testing.B, id string) (containerd.Container, containerd.Task) {
	c, err := r.client.NewContainer(r.ctx, id, containerd.WithImage(r.image), containerd.WithSnapshotter("overlayfs"),
		containerd.WithNewSnapshot(id+"-snap", r.image),
		containerd.WithNewSpec(oci.WithImageConfig(r.image), oci.WithProcessArgs("sleep", "1000"),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace})))
	if err != nil {
		b.Fatal(err)
	}
	task, err := c.NewTask(r.ctx, cio.NullIO)
	if err != nil {
		b.Fatal(err)
	}
	if err := task.Start(r.ctx); err != nil {
		b.Fatal(err)
	}
	return c, task
}

func (r *rawClient) destroy(c containerd.Container, task containerd.Task) {
	st, _ := task.Wait(r.ctx)
	task.Kill(r.ctx, 9)
	<-st
	task.Delete(r.ctx)
	c.Delete(r.ctx, containerd.WithSnapshotCleanup)
}

// BenchmarkSpawnToRunning compares a tffs spawn with the node's default
// hardening (user namespace, seccomp, reduced capabilities, pids and
// memory limits) against containerd's plain default spec (root is host
// root, no seccomp filter) in the same run. The relaxed tffs spawn
// (sdk.Trusted, which the bench's node allows) shows what the hardening
// costs. The first spawn of the image also makes its remapped snapshot
// (the image's files shifted into the node's uid range, once per image).
func BenchmarkSpawnToRunning(b *testing.B) {
	env := testenv.Start(b, testenv.NodeConfig(func(c *node.Config) { c.TrustedImages = []string{"*"} }))
	loc := env.Connect(b)
	raw := newRaw(b, env)
	ctx := context.Background()
	t0 := time.Now()
	first, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("%-34s tffs %8.1f ms (the node fetches the image and makes its remapped snapshot)\n", "first spawn of the image", float64(time.Since(t0).Microseconds())/1000)
	first.Destroy(ctx)
	for i := 0; i < b.N; i++ {
		var ours, relaxed, base []time.Duration
		for j := 0; j < rounds; j++ {
			t0 := time.Now()
			ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
			if err != nil {
				b.Fatal(err)
			}
			ours = append(ours, time.Since(t0))
			ctr.Destroy(ctx)
			t0 = time.Now()
			ctr, err = loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"), sdk.Trusted())
			if err != nil {
				b.Fatal(err)
			}
			relaxed = append(relaxed, time.Since(t0))
			ctr.Destroy(ctx)
			t0 = time.Now()
			c, task := raw.createStart(b, fmt.Sprintf("raw-%d-%d", i, j))
			base = append(base, time.Since(t0))
			raw.destroy(c, task)
		}
		fmt.Printf("%-34s tffs %8.1f ms\n", "spawn relaxed (sdk.Trusted)", float64(median(relaxed).Microseconds())/1000)
		report(b, "spawn to running (image cached)", median(ours), median(base))
	}
}

func BenchmarkRunTrue(b *testing.B) {
	env := testenv.Start(b)
	loc := env.Connect(b)
	raw := newRaw(b, env)
	ctx := context.Background()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		b.Fatal(err)
	}
	c, task := raw.createStart(b, "raw-exec")
	defer raw.destroy(c, task)
	spec, _ := c.Spec(raw.ctx)
	for i := 0; i < b.N; i++ {
		var ours, base []time.Duration
		for j := 0; j < rounds; j++ {
			t0 := time.Now()
			if _, code, err := ctr.Run(ctx, "true"); err != nil || code != 0 {
				b.Fatal(code, err)
			}
			ours = append(ours, time.Since(t0))
			t0 = time.Now()
			ps := *spec.Process
			ps.Args = []string{"true"}
			p, err := task.Exec(raw.ctx, fmt.Sprintf("x%d-%d", i, j), &ps, cio.NewCreator(cio.WithStreams(nil, io.Discard, io.Discard)))
			if err != nil {
				b.Fatal(err)
			}
			st, _ := p.Wait(raw.ctx)
			p.Start(raw.ctx)
			<-st
			p.Delete(raw.ctx)
			base = append(base, time.Since(t0))
		}
		report(b, `Run("true") round trip`, median(ours), median(base))
	}
}

func BenchmarkPutFetch100MB(b *testing.B) {
	env := testenv.Start(b)
	loc := env.Connect(b)
	ctx := context.Background()
	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "1000"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	data := make([]byte, 100<<20)
	rand.Read(data)
	os.WriteFile(src, data, 0o644)
	mbps := func(d time.Duration) float64 { return 100 / d.Seconds() }
	for i := 0; i < b.N; i++ {
		f, _ := os.Open(src)
		c0 := cpuTime()
		t0 := time.Now()
		if err := ctr.PutReader(ctx, "/tmp/big", f, 0o644); err != nil {
			b.Fatal(err)
		}
		put := time.Since(t0)
		putCPU := cpuTime() - c0
		f.Close()
		c0 = cpuTime()
		t0 = time.Now()
		rc, _, err := ctr.FetchReader(ctx, "/tmp/big")
		if err != nil {
			b.Fatal(err)
		}
		sink, err := os.Create(filepath.Join(dir, "fetched"))
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(sink, rc)
		rc.Close()
		sink.Close()
		fetch := time.Since(t0)
		fetchCPU := cpuTime() - c0
		if err != nil {
			b.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "fetched")); !bytes.Equal(got, data) {
			b.Fatal("fetched data differs")
		}
		t0 = time.Now()
		in, _ := os.Open(src)
		out, _ := os.Create(filepath.Join(dir, "copy"))
		io.Copy(out, in) // like cp(1): no fsync (Put does not sync either)
		cp := time.Since(t0)
		out.Sync()
		cpSync := time.Since(t0)
		out.Close()
		in.Close()
		b.ReportMetric(mbps(put), "MB/s-put")
		b.ReportMetric(mbps(fetch), "MB/s-fetch")
		b.ReportMetric(mbps(cp), "MB/s-cp")
		fmt.Printf("%-34s put %6.0f MB/s  fetch %6.0f MB/s   local cp %6.0f MB/s   ratio put %.2f× fetch %.2f×\n",
			"Put/Fetch 100 MB", mbps(put), mbps(fetch), mbps(cp), mbps(put)/mbps(cp), mbps(fetch)/mbps(cp))
		fmt.Printf("%-34s local cp then fsync %6.0f MB/s        ratio put %.2f× fetch %.2f×\n",
			"Put/Fetch 100 MB vs cp+fsync", mbps(cpSync), mbps(put)/mbps(cpSync), mbps(fetch)/mbps(cpSync))
		fmt.Printf("%-34s put %5.2f  fetch %5.2f CPU s/GB (client+master+node in this process, getrusage)\n",
			"Put/Fetch 100 MB CPU", putCPU.Seconds()*10.24, fetchCPU.Seconds()*10.24)
	}
}

// cpuTime is the CPU time (user+system) this process used so far: the
// bench's client, master and node all run in it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

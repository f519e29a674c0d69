package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// ContainerdState counts what a containerd namespace holds for containers
// (the node's long-lived blob-cache lease is not counted).
type ContainerdState struct {
	Containers, Tasks, Snapshots, Leases int
}

// Inspect reads the containerd state of a namespace through the socket.
func Inspect(t testing.TB, socket, namespace string) ContainerdState {
	t.Helper()
	client, err := containerd.New(socket)
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	var st ContainerdState
	ctrs, err := client.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	st.Containers = len(ctrs)
	for _, c := range ctrs {
		if _, err := c.Task(ctx, nil); err == nil {
			st.Tasks++
		}
	}
	client.SnapshotService("overlayfs").Walk(ctx, func(ctx context.Context, info snapshotInfo) error {
		if info.Kind != snapshotCommitted {
			st.Snapshots++
		}
		return nil
	})
	leases, err := client.LeasesService().List(ctx)
	if err == nil {
		for _, l := range leases {
			if l.ID != "tffs-blobs" { // the node's blob cache: kept on purpose, shared by containers
				st.Leases++
			}
		}
	}
	return st
}

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NetnsCount counts the named network namespaces whose names contain sub.
func NetnsCount(sub string) int {
	ents, _ := os.ReadDir("/var/run/netns")
	n := 0
	for _, e := range ents {
		if strings.Contains(e.Name(), sub) {
			n++
		}
	}
	return n
}

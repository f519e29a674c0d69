package testenv

import "github.com/containerd/containerd/v2/core/snapshots"

type snapshotInfo = snapshots.Info

const snapshotCommitted = snapshots.KindCommitted

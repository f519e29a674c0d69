// Package deps pins the module's third-party dependencies while the packages
// that use them are being written. It is removed once every dependency has a
// real importer.
package deps

import (
	_ "bazil.org/fuse"
	_ "github.com/containerd/containerd/v2/client"
	_ "github.com/containerd/containerd/v2/pkg/oci"
	_ "github.com/creack/pty"
	_ "github.com/cyphar/filepath-securejoin"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/mistifyio/go-zfs/v3"
	_ "github.com/opencontainers/image-spec/specs-go/v1"
	_ "github.com/opencontainers/runtime-spec/specs-go"
	_ "github.com/pebbe/zmq4"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "go.etcd.io/bbolt"
	_ "go.uber.org/goleak"
)

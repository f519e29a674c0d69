// Package integration holds the end-to-end tests of tffs: each starts a
// real location (master, node, containerd, runc) with internal/testenv and
// drives it through the SDK, the tffs binary and, later, the mount.
package integration

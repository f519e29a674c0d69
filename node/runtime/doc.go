// Package runtime is the containerd layer of the tffs node daemon.
//
// It runs a private containerd ([StartContainerd]), writes image blobs that
// arrive from the master into containerd's content store and unpacks them
// ([Runtime.EnsureImage]), and runs containers ([Runtime.Create]): each
// container has its own network namespace, an overlayfs snapshot, pre-boot
// files, a main task with streamed stdio, exec processes, reboot/reset, and
// file access confined to the container's root.
//
// Everything the package creates lives in one containerd namespace, so a
// restarted node can remove what a previous run left behind
// ([Runtime.CleanupOrphans]).
//
// All errors that callers may want to tell apart wrap one of [ErrNotFound],
// [ErrExists], [ErrInvalid] or [ErrBusy]; test them with errors.Is.
package runtime

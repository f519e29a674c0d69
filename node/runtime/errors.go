package runtime

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/containerd/errdefs"
)

// Sentinel errors. Errors returned by this package wrap one of these where
// the cause is known; use errors.Is to test for them.
var (
	// ErrNotFound: the container, image, blob, process or path does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the container, path or object already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid: the request is malformed (bad id, relative path, digest mismatch, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrBusy: the object is in the wrong state for the request
	// (e.g. exec on a container with no running task).
	ErrBusy = errors.New("busy or wrong state")
)

// wrapErr annotates err with msg and, when its cause maps to one of the
// sentinel errors, wraps that sentinel as well (the original error stays
// reachable through errors.Is/As).
func wrapErr(err error, msg string) error {
	if err == nil {
		return nil
	}
	if s := sentinelOf(err); s != nil && !errors.Is(err, s) {
		return fmt.Errorf("%s: %w: %w", msg, s, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// sentinelOf maps containerd, os and errno errors to a package sentinel.
func sentinelOf(err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrExists),
		errors.Is(err, ErrInvalid), errors.Is(err, ErrBusy):
		return nil // already carries one
	case errdefs.IsNotFound(err), errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ESRCH):
		return ErrNotFound
	case errdefs.IsAlreadyExists(err), errors.Is(err, os.ErrExist), errors.Is(err, syscall.ENOTEMPTY):
		return ErrExists
	case errdefs.IsInvalidArgument(err), errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENOTDIR),
		errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.EXDEV):
		return ErrInvalid
	case errdefs.IsFailedPrecondition(err), errdefs.IsUnavailable(err), errors.Is(err, syscall.EBUSY):
		return ErrBusy
	}
	return nil
}

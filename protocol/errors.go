package protocol

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors shared by every tffs component. A reply carries one of the
// codes below; Error.Unwrap maps it back, so errors.Is works on the far side
// of the wire.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrBusy        = errors.New("busy: wrong state")
	ErrInvalid     = errors.New("invalid argument")
	ErrPermission  = errors.New("permission denied")
	ErrUnavailable = errors.New("unavailable")
	ErrTimeout     = errors.New("timed out")
	ErrInternal    = errors.New("internal error")
	ErrTooLarge    = errors.New("too large")
	ErrLimit       = errors.New("limit reached") // a limit of the location (per account, or on what one request may read)
	ErrNoSpace     = errors.New("no space left") // a node's disk is full (ENOSPC, EDQUOT): nothing was changed, retry after freeing space
	// The path errors below let a file client answer with the errno the
	// container's filesystem gave (ENOTEMPTY, ENOTDIR, EISDIR).
	ErrNotEmpty = errors.New("directory not empty")
	ErrNotDir   = errors.New("not a directory")
	ErrIsDir    = errors.New("is a directory")
)

// Code names an error class on the wire.
type Code string

// Error codes carried by replies.
const (
	CodeNotFound    Code = "not_found"
	CodeExists      Code = "exists"
	CodeBusy        Code = "busy"
	CodeInvalid     Code = "invalid"
	CodePermission  Code = "permission"
	CodeUnavailable Code = "unavailable"
	CodeTimeout     Code = "timeout"
	CodeInternal    Code = "internal"
	CodeTooLarge    Code = "too_large"
	CodeLimit       Code = "limit"
	CodeNoSpace     Code = "no_space"
	CodeNotEmpty    Code = "not_empty"
	CodeNotDir      Code = "not_dir"
	CodeIsDir       Code = "is_dir"
)

var codeTable = []struct {
	code Code
	err  error
}{
	{CodeNotFound, ErrNotFound},
	{CodeExists, ErrExists},
	{CodeBusy, ErrBusy},
	{CodeInvalid, ErrInvalid},
	{CodePermission, ErrPermission},
	{CodeUnavailable, ErrUnavailable},
	{CodeTimeout, ErrTimeout},
	{CodeInternal, ErrInternal},
	{CodeTooLarge, ErrTooLarge},
	{CodeLimit, ErrLimit},
	{CodeNoSpace, ErrNoSpace},
	{CodeNotEmpty, ErrNotEmpty},
	{CodeNotDir, ErrNotDir},
	{CodeIsDir, ErrIsDir},
}

// Error is an error as carried in a reply: a code and a human message.
type Error struct {
	Code    Code   `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint"`
	// Errno is the errno a file call in a container gave (0 = none), so a
	// file client answers with exactly what a local filesystem would.
	Errno uint32 `cbor:"3,keyasint,omitempty"`
}

// Error returns the human message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel error for the code, so errors.Is works,
// and the errno when the error carries one (errors.As to syscall.Errno).
func (e *Error) Unwrap() []error {
	base := ErrInternal
	for _, c := range codeTable {
		if c.code == e.Code {
			base = c.err
			break
		}
	}
	if e.Errno != 0 {
		return []error{base, syscall.Errno(e.Errno)}
	}
	return []error{base}
}

// errnoOf is the errno err wraps (0 when none).
func errnoOf(err error) uint32 {
	var en syscall.Errno
	if errors.As(err, &en) {
		return uint32(en)
	}
	return 0
}

// WireError converts any error to its wire form, choosing the code from the
// first sentinel the error wraps (ErrInternal when none).
func WireError(err error) *Error {
	if err == nil {
		return nil
	}
	var we *Error
	if errors.As(err, &we) {
		return &Error{Code: we.Code, Message: err.Error(), Errno: we.Errno}
	}
	for _, c := range codeTable {
		if errors.Is(err, c.err) {
			return &Error{Code: c.code, Message: err.Error(), Errno: errnoOf(err)}
		}
	}
	return &Error{Code: CodeInternal, Message: err.Error(), Errno: errnoOf(err)}
}

// Errorf returns an error wrapping the sentinel base with a formatted message.
func Errorf(base error, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), base)
}

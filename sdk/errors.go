package sdk

import "github.com/tffs/tffs/protocol"

// Errors returned by the SDK wrap one of these; test with errors.Is.
var (
	ErrNotFound    = protocol.ErrNotFound    // no such container, process, file, image or node
	ErrExists      = protocol.ErrExists      // the name is taken
	ErrBusy        = protocol.ErrBusy        // the object is in the wrong state
	ErrInvalid     = protocol.ErrInvalid     // bad argument
	ErrPermission  = protocol.ErrPermission  // the master refused the key, or not yours
	ErrUnavailable = protocol.ErrUnavailable // the location or node cannot be reached
	ErrTimeout     = protocol.ErrTimeout     // the context ended first
	ErrNotEmpty    = protocol.ErrNotEmpty    // a container directory to remove is not empty
	ErrNotDir      = protocol.ErrNotDir      // a path component is not a directory
	ErrIsDir       = protocol.ErrIsDir       // a file operation met a directory
	ErrLimit       = protocol.ErrLimit       // a limit was reached (containers, processes, storage, uploads, the size of what the master reads)
	ErrNoSpace     = protocol.ErrNoSpace     // the node's disk is full: the put, pre-boot file or image unpack changed nothing (a partial file is removed); free space and retry
)

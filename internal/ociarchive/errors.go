package ociarchive

import "errors"

// Sentinel errors returned (wrapped) by Load and Layer.Open; test with
// errors.Is.
var (
	// ErrNotImage means the path is neither a tar archive nor an OCI
	// image-layout directory.
	ErrNotImage = errors.New("not an image archive or OCI layout")
	// ErrNoManifest means the source has neither manifest.json nor
	// index.json.
	ErrNoManifest = errors.New("no manifest.json or index.json")
	// ErrMissingBlob means a manifest refers to a file the source lacks.
	ErrMissingBlob = errors.New("missing blob")
	// ErrDigestMismatch means a blob's content does not match its digest
	// or size.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrInvalid means malformed input: bad JSON, an unsafe path, an
	// unsupported digest or media type, inconsistent counts.
	ErrInvalid = errors.New("invalid image")
)

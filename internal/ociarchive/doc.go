// Package ociarchive reads container images from local sources — a
// `docker save` tarball, an OCI image-layout tarball (oci-archive) or an
// OCI image-layout directory — so a client can upload them to a tffs
// location, which has no registry in the loop. It also builds the
// project's busybox test image from Debian's busybox-static, so tests and
// examples need no network.
//
// Everything read is treated as untrusted: JSON documents are size-capped,
// paths inside archives may not escape them, the config blob's digest is
// checked on Load and every layer's digest is checked while it is streamed.
// Archives are never extracted to disk; a layer is read straight out of the
// tarball when it is opened.
//
// ociarchive imports no other tffs package and nothing that needs cgo, so
// the small mkbusybox helper stays a static build.
package ociarchive

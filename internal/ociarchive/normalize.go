package ociarchive

// NormalizeName returns an image reference in the form the location keys
// images by: "docker.io/library/busybox" and "busybox" -> "busybox:latest".
func NormalizeName(ref string) (string, error) { return normalizeName(ref) }

package network

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

func short(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:n]
}

// BridgeName is the node bridge's name for a containerd namespace.
func BridgeName(namespace string) string { return "tb" + short(namespace, 8) }

// VethPrefix is the prefix of every host-side veth of a namespace's
// containers.
func VethPrefix(namespace string) string { return "tv" + short(namespace, 4) }

// VethName is the host-side veth of container id.
func VethName(namespace, id string) string { return VethPrefix(namespace) + short(namespace+"/"+id, 8) }

// TableName is the nftables table (family inet) of a namespace's node:
// the namespace, prefixed with "tffs-" unless it is already.
func TableName(namespace string) string {
	if strings.HasPrefix(namespace, "tffs-") {
		return namespace
	}
	return "tffs-" + namespace
}

// setName is the set of sources allowed to connect to container id.
func setName(id string) string { return "a-" + id }

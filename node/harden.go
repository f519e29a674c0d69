package node

import (
	"fmt"
	"slices"

	"github.com/tffs/tffs/node/runtime"
	"github.com/tffs/tffs/protocol"
)

// relaxation returns the hardening relaxation a spawn asks for, if the
// node trusts its image (Config.TrustedImages); else ErrPermission.
func (n *Node) relaxation(req protocol.NodeSpawn) (runtime.Relax, error) {
	r := req.Request.Relax
	if r == nil {
		return runtime.Relax{}, nil
	}
	relax := runtime.Relax{HostUsers: r.HostUsers, NoSeccomp: r.NoSeccomp, Caps: r.Caps}
	if relax.IsZero() {
		return relax, nil
	}
	if err := relax.Check(); err != nil {
		return relax, err
	}
	if !slices.Contains(n.cfg.TrustedImages, "*") && !slices.Contains(n.cfg.TrustedImages, req.Image.ConfigDigest) {
		return relax, fmt.Errorf("image %s (config %s) is not trusted by node %s, so its containers cannot run with less hardening: %w",
			req.Image.Name, req.Image.ConfigDigest, n.cfg.Name, protocol.ErrPermission)
	}
	return relax, nil
}

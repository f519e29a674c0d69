package node

import (
	"errors"
	"testing"

	"github.com/tffs/tffs/protocol"
)

func TestRelaxationNeedsTrustedImage(t *testing.T) {
	const good, other = "sha256:aaaa", "sha256:bbbb"
	spawn := func(digest string, r *protocol.Relax) protocol.NodeSpawn {
		return protocol.NodeSpawn{Request: protocol.SpawnRequest{Relax: r}, Image: protocol.Image{Name: "img", ConfigDigest: digest}}
	}
	for _, tc := range []struct {
		trusted []string
		spawn   protocol.NodeSpawn
		want    error
	}{
		{nil, spawn(good, nil), nil},
		{nil, spawn(good, &protocol.Relax{}), nil},
		{nil, spawn(good, &protocol.Relax{HostUsers: true}), protocol.ErrPermission},
		{[]string{good}, spawn(good, &protocol.Relax{HostUsers: true, Caps: []string{"CAP_MKNOD"}}), nil},
		{[]string{good}, spawn(other, &protocol.Relax{NoSeccomp: true}), protocol.ErrPermission},
		{[]string{"*"}, spawn(other, &protocol.Relax{Caps: []string{"CAP_NET_RAW"}}), nil},
		{[]string{"*"}, spawn(other, &protocol.Relax{Caps: []string{"NET_RAW"}}), protocol.ErrInvalid},
	} {
		n := &Node{cfg: Config{Name: "n", TrustedImages: tc.trusted}}
		_, err := n.relaxation(tc.spawn)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(wireErr(err), tc.want) {
			t.Errorf("trusted %v, image %s, relax %+v: %v, want %v", tc.trusted, tc.spawn.Image.ConfigDigest, tc.spawn.Request.Relax, err, tc.want)
		}
	}
}

package master

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/tffs/tffs/protocol"
)

// Layers are content-addressed and shared between accounts. An account is
// charged for the distinct layers its images reference plus the uploads of
// its sessions that no image references yet; a layer nobody references or
// uploads is removed from the store.

// layerSize is the stored size of a layer, or fallback when it is not
// stored (yet).
func (m *Master) layerSize(digest string, fallback int64) int64 {
	if fi, err := os.Stat(m.layerPath(digest)); err == nil {
		return fi.Size()
	}
	return fallback
}

// layerBytes is what an account holds: the layers of its images (but the
// image named skip, which is being replaced), its sessions' pending uploads,
// and extra (digest → size if not stored), each distinct layer once.
func (m *Master) layerBytes(account, skip string, extra map[string]int64) int64 {
	held := map[string]int64{}
	for _, img := range m.store.images(account) {
		if img.Name == skip {
			continue
		}
		for _, l := range img.Layers {
			held[l.Digest] = l.Size
		}
	}
	for _, s := range m.sessions {
		if s.account == account {
			for d, size := range s.pending {
				held[d] = size
			}
		}
	}
	for d, size := range extra {
		held[d] = size
	}
	var total int64
	for d, size := range held {
		total += m.layerSize(d, size)
	}
	return total
}

// checkLayerBytes refuses what would take the account past its quota.
func (m *Master) checkLayerBytes(account, skip string, extra map[string]int64) error {
	lim := m.Limits().LayerBytes
	if lim < 0 {
		return nil
	}
	if n := m.layerBytes(account, skip, extra); over(n, lim) {
		return limitError(account, "stored layer bytes (with this upload or image)", n, lim)
	}
	return nil
}

// collectLayers removes the stored layers that no image of any account
// references and no session is uploading. It runs on the actor goroutine
// (or before it starts).
func (m *Master) collectLayers() {
	keep := map[string]bool{}
	all, err := m.store.all(bucketImages)
	if err != nil {
		m.log.Warn("layer collection skipped", "err", err)
		return
	}
	for _, v := range all {
		var img protocol.Image
		if err := protocol.Unmarshal(v, &img); err != nil {
			m.log.Warn("layer collection skipped: unreadable image record", "err", err)
			return
		}
		for _, l := range img.Layers {
			keep[strings.TrimPrefix(l.Digest, "sha256:")] = true
		}
	}
	for _, s := range m.sessions {
		for d := range s.pending {
			keep[strings.TrimPrefix(d, "sha256:")] = true
		}
	}
	entries, err := os.ReadDir(m.layerDir)
	if err != nil {
		m.log.Warn("layer collection skipped", "err", err)
		return
	}
	var freed int64
	removed := 0
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		p := filepath.Join(m.layerDir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if err := os.Remove(p); err != nil {
			m.log.Warn("remove unreferenced layer", "err", err)
			continue
		}
		os.Remove(m.diffIDPath(e.Name())) // the diff_id computed for it, if any
		freed += fi.Size()
		removed++
	}
	if removed > 0 {
		m.log.Info("unreferenced layers removed", "layers", removed, "bytes", freed)
	}
}

// cleanUploads removes partial uploads a previous run left behind.
func (m *Master) cleanUploads() {
	parts, _ := filepath.Glob(filepath.Join(filepath.Dir(m.layerDir), "upload-*"))
	for _, p := range parts {
		os.Remove(p)
	}
}

// layerStored ends an upload on the actor goroutine: the upload slot is
// free again; a failed upload is no longer charged; and a layer whose
// session ended meanwhile is collected unless an image took it up.
func (m *Master) layerStored(s *session, digest string, err error) {
	s.uploading--
	if err != nil {
		delete(s.pending, digest)
	}
	if m.sessions[s.id] != s {
		m.collectLayers()
	}
}

// imageStored stops charging the session for the layers an image now
// references, and collects the layers an image it replaced held alone.
func (m *Master) imageStored(s *session, img protocol.Image) {
	for _, l := range img.Layers {
		delete(s.pending, l.Digest)
	}
	m.collectLayers()
}

package master

import "github.com/tffs/tffs/protocol"

// imageRemove forgets an image of the session's account and collects the
// layers it held alone. Containers already running keep their files (their
// nodes unpacked them).
func (m *Master) imageRemove(s *session, msg *protocol.Msg) {
	var req protocol.ImageRemoveRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	img, err := m.findImage(s.account, req.Name)
	if err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	if err := m.store.delete(bucketImages, imageKey(s.account, img.Name)); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	m.log.Info("image removed", "account", s.account, "image", img.Name)
	m.collectLayers()
	m.reply(s.id, msg, nil, nil)
}

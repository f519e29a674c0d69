package master

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tffs/tffs/protocol"
)

var validDigest = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

const maxLayerSize = 64 << 30

func (m *Master) layerPath(digest string) string {
	return filepath.Join(m.layerDir, strings.TrimPrefix(digest, "sha256:"))
}

func (m *Master) hasLayer(digest string) bool {
	_, err := os.Stat(m.layerPath(digest))
	return err == nil
}

func (m *Master) layersNeeded(s *session, msg *protocol.Msg) {
	var req protocol.LayersNeededRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	var out protocol.LayersNeededReply
	for _, d := range req.Digests {
		if !validDigest.MatchString(d) {
			m.reply(s.id, msg, nil, fmt.Errorf("digest %q: %w", d, protocol.ErrInvalid))
			return
		}
		if !m.hasLayer(d) {
			out.Missing = append(out.Missing, d)
		}
	}
	m.reply(s.id, msg, out, nil)
}

// layerPut receives a layer blob on a stream into the content-addressed
// cache, verifying its digest and size before it becomes visible.
func (m *Master) layerPut(s *session, msg *protocol.Msg) {
	var req protocol.LayerPutRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	if !validDigest.MatchString(req.Digest) || req.Size < 0 || req.Size > maxLayerSize || req.Stream == 0 {
		m.reply(s.id, msg, nil, fmt.Errorf("layer %q size %d stream %d: %w", req.Digest, req.Size, req.Stream, protocol.ErrInvalid))
		return
	}
	if lim := m.Limits().Uploads; over(m.uploadsOf(s.account)+1, lim) {
		m.reply(s.id, msg, nil, limitError(s.account, "layer uploads in flight", m.uploadsOf(s.account), lim))
		return
	}
	if err := m.checkLayerBytes(s.account, "", map[string]int64{req.Digest: req.Size}); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	s.uploading++
	s.pending[req.Digest] = req.Size
	key := protocol.StreamKey{Scope: s.id, ID: req.Stream}
	peer := s.id
	recv := protocol.NewReceiver(func(seq uint64) {
		m.srv.Send(peer, &protocol.Msg{Kind: protocol.KindAck, Stream: req.Stream, Seq: seq})
	})
	m.streams.AddReceiver(key, recv)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.streams.Remove(key)
		err := m.writeLayer(req, recv)
		if err != nil {
			m.warn.Warn(m.log, s.key, "layer upload failed", "digest", req.Digest, "err", err)
		} else {
			m.log.Info("layer stored", "digest", req.Digest, "size", req.Size)
		}
		m.post(func() {
			m.layerStored(s, req.Digest, err)
			m.reply(peer, msg, protocol.Empty{}, err)
		})
	}()
}

func (m *Master) writeLayer(req protocol.LayerPutRequest, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(m.layerDir), "upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, req.Size+1))
	if err != nil {
		return fmt.Errorf("receive layer: %w", err)
	}
	if n != req.Size {
		io.Copy(io.Discard, r)
		return fmt.Errorf("layer %s: got %d bytes, announced %d: %w", req.Digest, n, req.Size, protocol.ErrInvalid)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("receive layer: %w", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != req.Digest {
		return fmt.Errorf("layer digest is %s, announced %s: %w", got, req.Digest, protocol.ErrInvalid)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), m.layerPath(req.Digest))
}

// imagePut records an image description once all its layers are cached
// and match its config's diff_ids. Checking reads layers whose diff_id the
// master has not computed yet, so it runs off the actor goroutine.
func (m *Master) imagePut(s *session, msg *protocol.Msg) {
	var img protocol.Image
	if err := msg.DecodeBody(&img); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	peer := s.id
	m.wg.Add(1)
	go func() { // reading layers to check diff_ids is slow: off the actor loop
		defer m.wg.Done()
		m.reply(peer, msg, protocol.Empty{}, m.checkImage(img, func(img protocol.Image) error {
			var err error
			if lerr := m.onLoop(func() { err = m.saveImage(s, img) }); lerr != nil {
				return lerr
			}
			return err
		}))
	}()
}

// saveImage stores a checked image description for s's account within its
// layer quota and collects the layers nothing references any more. It runs
// on the actor goroutine.
func (m *Master) saveImage(s *session, img protocol.Image) error {
	extra := map[string]int64{}
	for _, l := range img.Layers {
		extra[l.Digest] = l.Size
	}
	if err := m.checkLayerBytes(s.account, img.Name, extra); err != nil {
		return err
	}
	if err := m.store.putImage(s.account, img); err != nil {
		return err
	}
	m.imageStored(s, img)
	return nil
}

// checkImage checks an image description and saves it: the config matches
// its digest, every layer is uploaded, and the digest of each layer's
// uncompressed tar (computed here by the master, never taken from the
// client) is the config's rootfs.diff_ids entry for it. Saved layers carry
// the computed diff_ids. On any mismatch nothing is saved.
func (m *Master) checkImage(img protocol.Image, save func(protocol.Image) error) error {
	if img.Name == "" || len(img.Name) > 255 || strings.ContainsAny(img.Name, "\x00\n") {
		return fmt.Errorf("image name %q: %w", img.Name, protocol.ErrInvalid)
	}
	sum := sha256.Sum256(img.Config)
	if "sha256:"+hex.EncodeToString(sum[:]) != img.ConfigDigest {
		return fmt.Errorf("image config does not match its digest: %w", protocol.ErrInvalid)
	}
	if len(img.Layers) == 0 {
		return fmt.Errorf("image %q has no layers: %w", img.Name, protocol.ErrInvalid)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(img.Config, &cfg); err != nil {
		return fmt.Errorf("image %q config: %w: %v", img.Name, protocol.ErrInvalid, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(img.Layers) {
		return fmt.Errorf("image %q has %d layers but its config lists %d diff_ids: %w", img.Name, len(img.Layers), len(cfg.RootFS.DiffIDs), protocol.ErrInvalid)
	}
	for _, l := range img.Layers {
		if !validDigest.MatchString(l.Digest) {
			return fmt.Errorf("layer digest %q: %w", l.Digest, protocol.ErrInvalid)
		}
		if !m.hasLayer(l.Digest) {
			return fmt.Errorf("layer %s is not uploaded: %w", l.Digest, protocol.ErrNotFound)
		}
	}
	layers := make([]protocol.Layer, len(img.Layers))
	for i, l := range img.Layers {
		id, err := m.diffID(l.Digest)
		if err != nil {
			return fmt.Errorf("image %q: %w", img.Name, err)
		}
		if want := cfg.RootFS.DiffIDs[i]; id != want {
			return fmt.Errorf("image %q: layer %d (%s) unpacks to %s, but the config's diff_id is %s: %w", img.Name, i, l.Digest, id, want, protocol.ErrInvalid)
		}
		l.DiffID = id
		layers[i] = l
	}
	img.Layers = layers
	return save(img)
}

// layerGet streams a cached layer to a node.
func (m *Master) layerGet(n *node, msg *protocol.Msg) {
	var req protocol.LayerGetRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(n.peer, msg, nil, err)
		return
	}
	if !validDigest.MatchString(req.Digest) || req.Stream == 0 {
		m.reply(n.peer, msg, nil, fmt.Errorf("layer %q: %w", req.Digest, protocol.ErrInvalid))
		return
	}
	f, err := os.Open(m.layerPath(req.Digest))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("layer %s: %w", req.Digest, protocol.ErrNotFound)
		}
		m.reply(n.peer, msg, nil, err)
		return
	}
	key := protocol.StreamKey{Scope: "node:" + n.name, ID: req.Stream}
	peer := n.peer
	snd := protocol.NewSender(req.Stream, protocol.Msg{}, func(d *protocol.Msg) error { return m.srv.Send(peer, d) })
	m.streams.AddSender(key, snd)
	m.reply(peer, msg, protocol.Empty{}, nil)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer f.Close()
		defer m.streams.Remove(key)
		_, err := io.Copy(snd, f)
		snd.Close(err)
	}()
}

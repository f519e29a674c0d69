package master

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/tffs/tffs/protocol"
)

// treeCache keeps the merged trees of recently browsed images, so a client
// walking an image before start does not re-read its layers on every call.
// Trees are keyed by content (the config digest and every layer digest:
// the layers were checked against the config's diff_ids on import), so an
// image of one account can never show as another's. A failed build (a
// limit reached) is kept too, so it is not retried on every call.
type treeCache struct {
	mu      sync.Mutex
	trees   map[string]treeResult
	order   []string // oldest first
	entries int      // files in the cached trees
	builds  flight[treeResult]
}

type treeResult struct {
	tree *imageTree
	err  error
}

// size is the number of files the result keeps in memory.
func (r treeResult) size() int {
	if r.tree == nil {
		return 0
	}
	return len(r.tree.files)
}

const maxCachedTrees = 8

// treeKey names an image's content.
func treeKey(img protocol.Image) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", img.ConfigDigest)
	for _, l := range img.Layers {
		fmt.Fprintf(h, "%s\n", l.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// get returns the image's tree, building it (outside the actor loop) when
// it is not cached. Only callers of the same image wait for a build: a
// large image being read never holds up the browsing of others. The cache
// keeps at most maxCachedTrees trees and, beyond the newest, budget files
// in all.
func (c *treeCache) get(img protocol.Image, budget int, build func() (*imageTree, error)) (*imageTree, error) {
	key := treeKey(img)
	c.mu.Lock()
	r, ok := c.trees[key]
	c.mu.Unlock()
	if ok {
		return r.tree, r.err
	}
	r, _ = c.builds.do(key, func() (treeResult, error) {
		c.mu.Lock()
		r, ok := c.trees[key]
		c.mu.Unlock()
		if ok {
			return r, nil
		}
		t, err := build()
		r = treeResult{t, err}
		if err != nil && !errors.Is(err, protocol.ErrLimit) && !errors.Is(err, protocol.ErrInvalid) {
			return r, nil // not cached: may be transient
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.trees == nil {
			c.trees = map[string]treeResult{}
		}
		c.trees[key] = r
		c.order = append(c.order, key)
		c.entries += r.size()
		for len(c.order) > 1 && (len(c.order) > maxCachedTrees || c.entries > budget) {
			c.entries -= c.trees[c.order[0]].size()
			delete(c.trees, c.order[0])
			c.order = c.order[1:]
		}
		return r, nil
	})
	return r.tree, r.err
}

// findImage resolves an image reference of the account ("name" means
// "name:latest" when no tag is given).
func (m *Master) findImage(account, ref string) (protocol.Image, error) {
	img, ok := m.store.image(account, ref)
	if !ok && !strings.Contains(ref, ":") {
		img, ok = m.store.image(account, ref+":latest")
	}
	if !ok {
		return img, fmt.Errorf("image %q is not in this location (upload it first): %w", ref, protocol.ErrNotFound)
	}
	return img, nil
}

// imageFileRequest decodes and checks a request for a path in an image.
func (m *Master) imageFileRequest(s *session, msg *protocol.Msg) (protocol.ImageFileRequest, protocol.Image, error) {
	var req protocol.ImageFileRequest
	if err := msg.DecodeBody(&req); err != nil {
		return req, protocol.Image{}, err
	}
	if !path.IsAbs(req.Path) || strings.ContainsRune(req.Path, 0) || len(req.Path) > 4096 {
		return req, protocol.Image{}, fmt.Errorf("path %q must be absolute: %w", req.Path, protocol.ErrInvalid)
	}
	for _, part := range strings.Split(req.Path, "/") {
		if part == ".." {
			return req, protocol.Image{}, fmt.Errorf("path %q: `..` is not allowed: %w", req.Path, protocol.ErrInvalid)
		}
	}
	img, err := m.findImage(s.account, req.Image)
	return req, img, err
}

// withTree checks an image file request and runs do with the image's tree
// off the actor goroutine (building a tree reads the layers); any error is
// the reply.
func (m *Master) withTree(s *session, msg *protocol.Msg, needStream bool, do func(peer string, req protocol.ImageFileRequest, t *imageTree) error) {
	req, img, err := m.imageFileRequest(s, msg)
	if err == nil && needStream && req.Stream == 0 {
		err = fmt.Errorf("image fetch without a stream: %w", protocol.ErrInvalid)
	}
	if err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	peer := s.id
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t, err := m.trees.get(img, 2*m.cfg.LayerMaxEntries, func() (*imageTree, error) {
			return buildTree(m.layerPath, img.Layers, m.readLimits())
		})
		if err == nil {
			err = do(peer, req, t)
		}
		if err != nil {
			m.reply(peer, msg, nil, err)
		}
	}()
}

// imageFiles lists a directory of an image's file tree.
func (m *Master) imageFiles(s *session, msg *protocol.Msg) {
	m.withTree(s, msg, false, func(peer string, req protocol.ImageFileRequest, t *imageTree) error {
		files, err := t.list(req.Path)
		if err == nil {
			m.reply(peer, msg, protocol.FileList{Files: files}, nil)
		}
		return err
	})
}

// imageFetch streams a regular file of an image's file tree to the client.
func (m *Master) imageFetch(s *session, msg *protocol.Msg) {
	m.withTree(s, msg, true, func(peer string, req protocol.ImageFileRequest, t *imageTree) error {
		rc, fi, err := t.open(m.layerPath, m.cfg.LayerMaxBytes, req.Path)
		if err != nil {
			return err
		}
		defer rc.Close()
		key := protocol.StreamKey{Scope: peer, ID: req.Stream}
		snd := protocol.NewSender(req.Stream, protocol.Msg{}, func(d *protocol.Msg) error { return m.srv.Send(peer, d) })
		m.streams.AddSender(key, snd)
		defer m.streams.Remove(key)
		m.reply(peer, msg, fi, nil)
		_, err = io.Copy(snd, rc)
		snd.Close(err)
		return nil
	})
}

package master

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tffs/tffs/protocol"
)

var (
	bucketAccounts = []byte("accounts") // name → public key
	bucketNodes    = []byte("nodes")    // name → public key
	bucketImages   = []byte("images")   // account NUL name → CBOR protocol.Image
)

// store persists accounts, nodes, image descriptions, sessions and
// containers (with their tags) in bbolt.
type store struct {
	db *bolt.DB
}

func openStore(path string) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAccounts, bucketNodes, bucketImages, bucketSessions, bucketContainers, bucketInvites} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init store: %w", err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

func (s *store) put(bucket []byte, key string, val []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), val) })
}

func (s *store) delete(bucket []byte, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(key)) })
}

func (s *store) all(bucket []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

func imageKey(account, name string) string { return account + "\x00" + name }

func (s *store) putImage(account string, img protocol.Image) error {
	b, err := protocol.Marshal(img)
	if err != nil {
		return err
	}
	return s.put(bucketImages, imageKey(account, img.Name), b)
}

func (s *store) image(account, name string) (protocol.Image, bool) {
	var img protocol.Image
	found := false
	s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketImages).Get([]byte(imageKey(account, name)))
		if v != nil && protocol.Unmarshal(v, &img) == nil {
			found = true
		}
		return nil
	})
	return img, found
}

func (s *store) images(account string) []protocol.Image {
	var out []protocol.Image
	prefix := []byte(account + "\x00")
	s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketImages).Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			var img protocol.Image
			if protocol.Unmarshal(v, &img) == nil {
				out = append(out, img)
			}
		}
		return nil
	})
	return out
}

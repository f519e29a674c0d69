package protocol

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	zmq "github.com/pebbe/zmq4"
)

// KeyPair is a CURVE key pair in Z85 text form.
type KeyPair struct {
	Public string
	Secret string
}

// NewKeyPair generates a CURVE key pair on this machine.
func NewKeyPair() (KeyPair, error) {
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate curve key pair: %w", err)
	}
	return KeyPair{Public: pub, Secret: sec}, nil
}

// ValidPublicKey reports whether s is a well-formed Z85 CURVE public key.
func ValidPublicKey(s string) bool {
	if len(s) != 40 {
		return false
	}
	return len(zmq.Z85decode(s)) == 32
}

// LoadOrCreateKeyPair reads the key pair named name from dir (files
// NAME.key with the secret and NAME.pub with the public key), creating it
// with mode 0600 when it does not exist yet.
func LoadOrCreateKeyPair(dir, name string) (KeyPair, error) {
	secPath := filepath.Join(dir, name+".key")
	pubPath := filepath.Join(dir, name+".pub")
	sec, err := os.ReadFile(secPath)
	if err == nil {
		kp := KeyPair{Secret: strings.TrimSpace(string(sec))}
		kp.Public, err = zmq.AuthCurvePublic(kp.Secret)
		if err != nil || len(kp.Secret) != 40 {
			return KeyPair{}, fmt.Errorf("key %s is malformed: %w", secPath, ErrInvalid)
		}
		return kp, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return KeyPair{}, fmt.Errorf("read key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return KeyPair{}, fmt.Errorf("key dir: %w", err)
	}
	kp, err := NewKeyPair()
	if err != nil {
		return KeyPair{}, err
	}
	if err := os.WriteFile(secPath, []byte(kp.Secret+"\n"), 0o600); err != nil {
		return KeyPair{}, fmt.Errorf("write key: %w", err)
	}
	if err := os.WriteFile(pubPath, []byte(kp.Public+"\n"), 0o600); err != nil {
		return KeyPair{}, fmt.Errorf("write key: %w", err)
	}
	return kp, nil
}

// DefaultDir is the per-user tffs directory, ~/.tffs.
func DefaultDir() string {
	if d := os.Getenv("TFFS_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".tffs")
}

package sdk

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tffs/tffs/protocol"
)

// LocationConfig is what a client needs to reach a location: stored as
// ~/.tffs/locations/NAME.json by `tffs location up` or by hand.
type LocationConfig struct {
	Name      string `json:"name"`
	Master    string `json:"master"`     // e.g. tcp://127.0.0.1:2020
	MasterKey string `json:"master_key"` // the master's CURVE public key
}

// ConfigPath is where the named location's config lives under dir.
func ConfigPath(dir, name string) string {
	return filepath.Join(dir, "locations", name+".json")
}

// WriteConfig stores a location config under dir (mode 0600) and, when it
// is the first one, makes it the default.
func WriteConfig(dir string, cfg LocationConfig) error {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, "/\x00") {
		return fmt.Errorf("location name %q: %w", cfg.Name, ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Join(dir, "locations"), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(ConfigPath(dir, cfg.Name), append(b, '\n'), 0o600); err != nil {
		return err
	}
	def := filepath.Join(dir, "default-location")
	if _, err := os.Stat(def); os.IsNotExist(err) {
		return os.WriteFile(def, []byte(cfg.Name+"\n"), 0o600)
	}
	return nil
}

// SetDefaultLocation makes name the location Connect uses by default.
func SetDefaultLocation(dir, name string) error {
	return os.WriteFile(filepath.Join(dir, "default-location"), []byte(name+"\n"), 0o600)
}

// ReadConfig loads the named location config ("" = the default one).
func ReadConfig(dir, name string) (LocationConfig, error) {
	if name == "" {
		b, err := os.ReadFile(filepath.Join(dir, "default-location"))
		if err != nil {
			return LocationConfig{}, fmt.Errorf("no default location in %s (run `tffs location up` or pass WithLocation): %w", dir, ErrNotFound)
		}
		name = strings.TrimSpace(string(b))
	}
	b, err := os.ReadFile(ConfigPath(dir, name))
	if err != nil {
		return LocationConfig{}, fmt.Errorf("location %q: %v: %w", name, err, ErrNotFound)
	}
	var cfg LocationConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return LocationConfig{}, fmt.Errorf("location %q config: %v: %w", name, err, ErrInvalid)
	}
	if cfg.Master == "" || !protocol.ValidPublicKey(cfg.MasterKey) {
		return LocationConfig{}, fmt.Errorf("location %q config lacks master or master_key: %w", name, ErrInvalid)
	}
	return cfg, nil
}

// ClientKey returns this machine's client key pair from dir, creating it
// (mode 0600) on first use. Its public half is what `tffs account add` takes.
func ClientKey(dir string) (protocol.KeyPair, error) {
	return protocol.LoadOrCreateKeyPair(dir, "client")
}

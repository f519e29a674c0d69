package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	zmq "github.com/pebbe/zmq4"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// Bundle is what `tffs key export` prints: this client's key and location
// configs, enough to be the same client on another machine.
type Bundle struct {
	ClientSecret string               `json:"client_secret"`
	Locations    []sdk.LocationConfig `json:"locations"`
	Default      string               `json:"default,omitempty"`
}

// LocationInfo is a stored location config and whether it is the default.
type LocationInfo struct {
	sdk.LocationConfig
	Default bool
}

// Locations lists the location configs stored under dir.
func Locations(dir string) ([]LocationInfo, error) {
	names, err := filepath.Glob(filepath.Join(dir, "locations", "*.json"))
	if err != nil {
		return nil, err
	}
	def := defaultLocation(dir)
	var out []LocationInfo
	for _, p := range names {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		cfg, err := sdk.ReadConfig(dir, name)
		if err != nil {
			return nil, err
		}
		out = append(out, LocationInfo{LocationConfig: cfg, Default: name == def})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func defaultLocation(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "default-location"))
	return strings.TrimSpace(string(b))
}

// UseLocation makes the stored location name the default one.
func UseLocation(dir, name string) error {
	if _, err := sdk.ReadConfig(dir, name); err != nil {
		return err
	}
	return sdk.SetDefaultLocation(dir, name)
}

// Export writes the bundle of the client in dir to w.
func Export(dir string, w io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, "client.key")); err != nil {
		return fmt.Errorf("no client key in %s: %w", dir, sdk.ErrNotFound)
	}
	kp, err := sdk.ClientKey(dir)
	if err != nil {
		return err
	}
	locs, err := Locations(dir)
	if err != nil {
		return err
	}
	b := Bundle{ClientSecret: kp.Secret, Default: defaultLocation(dir)}
	for _, l := range locs {
		b.Locations = append(b.Locations, l.LocationConfig)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

// Import reads a bundle from r into dir: the client key (refused if dir
// holds another one) and the location configs (files 0600). Nothing is
// written unless the whole bundle is valid.
func Import(dir string, r io.Reader) error {
	var b Bundle
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&b); err != nil {
		return fmt.Errorf("key bundle: %v: %w", err, sdk.ErrInvalid)
	}
	pub, err := zmq.AuthCurvePublic(b.ClientSecret)
	if err != nil || len(b.ClientSecret) != 40 {
		return fmt.Errorf("key bundle: malformed client secret: %w", sdk.ErrInvalid)
	}
	for _, l := range b.Locations {
		if l.Name == "" || strings.ContainsAny(l.Name, "/\x00") || l.Master == "" || !protocol.ValidPublicKey(l.MasterKey) {
			return fmt.Errorf("key bundle: location %q is incomplete: %w", l.Name, sdk.ErrInvalid)
		}
	}
	if cur, err := os.ReadFile(filepath.Join(dir, "client.key")); err == nil {
		if strings.TrimSpace(string(cur)) != b.ClientSecret {
			return fmt.Errorf("%s already holds another client key: %w", dir, sdk.ErrExists)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := writeKey(dir, protocol.KeyPair{Public: pub, Secret: b.ClientSecret}); err != nil {
		return err
	}
	for _, l := range b.Locations {
		if err := sdk.WriteConfig(dir, l); err != nil {
			return err
		}
	}
	if b.Default != "" {
		return UseLocation(dir, b.Default)
	}
	return nil
}

package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	zmq "github.com/pebbe/zmq4"
	"github.com/tffs/tffs/master"
	"github.com/tffs/tffs/protocol"
	"github.com/tffs/tffs/sdk"
)

// tokenPrefix marks an invitation token (and its format's version).
const tokenPrefix = "tffs-invite-1."

// EncodeToken turns an invitation into the one-line token `tffs join`
// takes.
func EncodeToken(inv master.Invitation) string {
	b, _ := json.Marshal(inv)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken reads a token made by EncodeToken.
func DecodeToken(token string) (master.Invitation, error) {
	var inv master.Invitation
	rest, ok := strings.CutPrefix(strings.TrimSpace(token), tokenPrefix)
	if !ok {
		return inv, fmt.Errorf("not a tffs invitation token: %w", sdk.ErrInvalid)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(b, &inv) != nil || inv.Master == "" || !protocol.ValidPublicKey(inv.MasterKey) || len(inv.Secret) != 40 {
		return inv, fmt.Errorf("malformed invitation token: %w", sdk.ErrInvalid)
	}
	return inv, nil
}

// Join presents the invitation token to its master over CURVE, as the
// invitation's one-time key, with this machine's client key (made now if
// there is none) and, once the master admitted that key, stores the
// location config as locName under dir (the default location if it is the
// first). A refused token changes nothing here: the key and the config are
// written only after the master said yes.
func Join(ctx context.Context, dir, locName, token string) (string, error) {
	inv, err := DecodeToken(token)
	if err != nil {
		return "", err
	}
	if dir == "" {
		dir = protocol.DefaultDir()
	}
	if locName == "" {
		locName = inv.Account
	}
	if _, err := sdk.ReadConfig(dir, locName); err == nil {
		return "", fmt.Errorf("location %q is already configured in %s: %w", locName, dir, sdk.ErrExists)
	}
	pub, err := zmq.AuthCurvePublic(inv.Secret)
	if err != nil {
		return "", fmt.Errorf("malformed invitation token: %w", sdk.ErrInvalid)
	}
	client, fresh, err := clientKey(dir)
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	b := make([]byte, 12)
	rand.Read(b)
	conn, err := protocol.Dial(cctx, protocol.TCPAddr(inv.Master), inv.MasterKey,
		protocol.KeyPair{Public: pub, Secret: inv.Secret}, "join-"+hex.EncodeToString(b), slog.New(slog.DiscardHandler))
	if err != nil {
		return "", fmt.Errorf("invitation refused (spent, expired or altered?): %w", err)
	}
	defer conn.Close()
	req, err := protocol.NewRequest(1, protocol.OpJoin, protocol.JoinRequest{PublicKey: client.Public})
	if err != nil {
		return "", err
	}
	if err := conn.Send(req); err != nil {
		return "", err
	}
	var reply *protocol.Msg
	for reply == nil {
		select {
		case m, ok := <-conn.Recv():
			if !ok {
				return "", fmt.Errorf("join: connection closed: %w", sdk.ErrUnavailable)
			}
			if m.Kind == protocol.KindReply && m.ID == 1 {
				reply = m
			}
		case <-cctx.Done():
			return "", fmt.Errorf("join: no answer from %s (invitation spent, expired or altered?): %w", inv.Master, sdk.ErrTimeout)
		}
	}
	if reply.Err != nil {
		return "", fmt.Errorf("join: %w", reply.Err)
	}
	var jr protocol.JoinReply
	reply.DecodeBody(&jr)
	if fresh {
		if err := writeKey(dir, client); err != nil {
			return "", err
		}
	}
	if err := sdk.WriteConfig(dir, sdk.LocationConfig{Name: locName, Master: inv.Master, MasterKey: inv.MasterKey}); err != nil {
		return "", err
	}
	return jr.Account, nil
}

// clientKey returns the client key pair in dir, or a new one (fresh, not
// yet written) if there is none.
func clientKey(dir string) (protocol.KeyPair, bool, error) {
	if _, err := os.Stat(filepath.Join(dir, "client.key")); err == nil {
		kp, err := sdk.ClientKey(dir)
		return kp, false, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return protocol.KeyPair{}, false, err
	}
	kp, err := protocol.NewKeyPair()
	return kp, true, err
}

// writeKey stores a client key pair as protocol.LoadOrCreateKeyPair
// reads it (mode 0600).
func writeKey(dir string, kp protocol.KeyPair) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "client.key"), []byte(kp.Secret+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "client.pub"), []byte(kp.Public+"\n"), 0o600)
}

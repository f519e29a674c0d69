// Package systemd writes systemd service units for the tffs daemons and
// for `tffs run` lines kept running as services.
package systemd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Unit is one service unit.
type Unit struct {
	Name        string // file name without .service, e.g. "tffs-master"
	Description string
	Exec        []string // the command line
	Env         []string // KEY=VALUE
	After       []string // extra units to start after
}

// Text renders the unit file.
func (u Unit) Text() string {
	var b strings.Builder
	after := append([]string{"network-online.target"}, u.After...)
	desc := strings.NewReplacer("%", "%%", "\n", " ").Replace(u.Description)
	fmt.Fprintf(&b, "[Unit]\nDescription=%s\nWants=network-online.target\nAfter=%s\n\n", desc, strings.Join(after, " "))
	b.WriteString("[Service]\nType=simple\n")
	for _, e := range u.Env {
		fmt.Fprintf(&b, "Environment=%s\n", quote(e))
	}
	q := make([]string, len(u.Exec))
	for i, a := range u.Exec {
		q[i] = quote(a)
	}
	fmt.Fprintf(&b, "ExecStart=%s\nRestart=always\nRestartSec=2\nKillSignal=SIGTERM\nTimeoutStopSec=30\n\n", strings.Join(q, " "))
	b.WriteString("[Install]\nWantedBy=multi-user.target\n")
	return b.String()
}

// plain is what needs no quoting in a unit's command line.
var plain = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// quote quotes a word for a unit file's command line (systemd.syntax:
// double quotes with C-style escapes; % is doubled as a specifier escape,
// $ as a variable escape).
func quote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if plain.MatchString(s) {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// Write writes the unit as dir/NAME.service (mode 0644) and returns its path.
func (u Unit) Write(dir string) (string, error) {
	if !validName.MatchString(u.Name) {
		return "", fmt.Errorf("unit name %q: letters, digits, '-', '_', '.', '@' only", u.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, u.Name+".service")
	return p, os.WriteFile(p, []byte(u.Text()), 0o644)
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,200}$`)

// UnitName makes a unit name from free text: "tffs-run-" + its letters,
// digits and dashes.
func UnitName(prefix, s string) string {
	s = regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(s, "-")
	s = strings.Trim(s, "-")
	if s == "" {
		s = "container"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return prefix + s
}

// WriteConfig writes a daemon's JSON config (flag name → value, as
// `--config` reads it) as path, mode 0600 (it may name secrets' places).
func WriteConfig(path string, values map[string]any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(values, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// RunUnit is the unit that keeps a `tffs run` command line running as a
// service: argv is that line's arguments (after the binary), from which
// the first --systemd and any --unit-dir are dropped; tffsDir is the client
// directory the service uses.
func RunUnit(bin, name string, argv []string, tffsDir string) Unit {
	exec := []string{bin}
	dropped := false
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case !dropped && (a == "--systemd" || a == "--systemd=true"):
			dropped = true
			continue
		case a == "--unit-dir":
			i++
			continue
		case strings.HasPrefix(a, "--unit-dir="):
			continue
		}
		exec = append(exec, a)
	}
	return Unit{Name: UnitName("tffs-run-", name), Description: "tffs " + strings.Join(argv, " "),
		Exec: exec, Env: []string{"TFFS_DIR=" + tffsDir}}
}

package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// configFlag adds --config FILE to a daemon command: a JSON object keyed by
// flag name supplies values for the flags not given on the command line
// (see applyConfig).
func configFlag(cmd *cobra.Command) *string {
	return cmd.Flags().String("config", "", "JSON config file (keys are flag names)")
}

// applyConfig fills the flags of cmd not given on the command line from
// the JSON config file path ("" = none).
func applyConfig(cmd *cobra.Command, path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var values map[string]any
	if err := json.Unmarshal(b, &values); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	fs := cmd.Flags()
	for k, v := range values {
		f := fs.Lookup(k)
		if f == nil {
			return fmt.Errorf("config %s: unknown setting %q", path, k)
		}
		switch x := v.(type) {
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64) // 1073741824, not 1.073741824e+09
		case []any: // a list flag, e.g. "trusted-images": ["sha256:…", "sha256:…"]
			items := make([]string, len(x))
			for i, e := range x {
				items[i] = fmt.Sprint(e)
			}
			v = strings.Join(items, ",")
		}
		if !f.Changed {
			if err := fs.Set(k, fmt.Sprint(v)); err != nil {
				return fmt.Errorf("config %s: %s: %w", path, k, err)
			}
		}
	}
	return nil
}

// logger makes the daemons' structured logger: info by default, debug with --debug.
func logger(debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

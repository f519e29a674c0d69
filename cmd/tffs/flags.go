package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// parseFlags parses args into fs; a --config FILE (JSON object keyed by
// flag name) supplies values for the flags not given on the command line.
func parseFlags(fs *flag.FlagSet, args []string) error {
	config := fs.String("config", "", "JSON config file (keys are flag names)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config == "" {
		return nil
	}
	b, err := os.ReadFile(*config)
	if err != nil {
		return err
	}
	var values map[string]any
	if err := json.Unmarshal(b, &values); err != nil {
		return fmt.Errorf("config %s: %w", *config, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for k, v := range values {
		if fs.Lookup(k) == nil {
			return fmt.Errorf("config %s: unknown setting %q", *config, k)
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
		if !given[k] {
			if err := fs.Set(k, fmt.Sprint(v)); err != nil {
				return fmt.Errorf("config %s: %s: %w", *config, k, err)
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

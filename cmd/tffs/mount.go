package main

import (
	"context"
	"fmt"
	"log/slog"
)

// mountLocation mounts the default location at dir; the returned function unmounts it.
func mountLocation(ctx context.Context, dir string, log *slog.Logger) (func(), error) {
	return nil, fmt.Errorf("the filesystem is not built yet; use --no-mount")
}

func mountCommand(ctx context.Context, args []string) error {
	return fmt.Errorf("the filesystem is not built yet")
}

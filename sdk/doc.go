// Package sdk is the Go client of a tffs location. Connect opens a session
// with the location's master over an encrypted ZeroMQ connection; the
// session owns every container it spawns, and Close ends it (the location
// then removes them).
//
//	loc, err := sdk.Connect(ctx)
//	defer loc.Close()
//	ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Command("sleep", "60"))
//	out, code, err := ctr.Run(ctx, "ls", "/")
//
// Errors wrap the sentinels below (ErrNotFound, ErrBusy, …), so errors.Is
// works across the wire. Callbacks run on a background goroutine; every
// type is safe for concurrent use.
//
// sdk imports protocol and no other tffs package but the image reader.
package sdk

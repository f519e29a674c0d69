// Package layout holds the test that pins the import direction of the
// module's packages (DESIGN.md's layout): protocol imports nothing of
// ours; master, node and sdk import protocol and never each other; fs
// imports sdk; the node's runtime imports nothing of ours but leaf helpers.
package layout

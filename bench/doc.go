// Package bench measures tffs against baselines taken in the same run: the
// raw containerd client (create+start, task exec) and a plain local file
// copy. Run with `make bench`; every figure is printed beside its baseline
// and as a ratio. These are figures, not pass/fail.
package bench

// Command mkbusybox builds the tffs busybox test image: a docker-save
// tarball made from a static busybox binary, with no network needed.
//
//	mkbusybox [-busybox /bin/busybox] [-name busybox:latest] OUT
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tffs/tffs/internal/ociarchive"
)

func main() {
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary to package")
	name := flag.String("name", "busybox:latest", "image name (RepoTags)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkbusybox [-busybox PATH] [-name NAME] OUT\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := ociarchive.BuildBusybox(*busybox, flag.Arg(0), *name); err != nil {
		fmt.Fprintln(os.Stderr, "mkbusybox:", err)
		os.Exit(1)
	}
}

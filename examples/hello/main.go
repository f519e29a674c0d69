// Command hello is a complete tffs client: it connects to the default
// location (`tffs location up` writes its config), spawns a busybox
// container, runs a command in it, puts and fetches a file, and prints
// what it saw. The session ends when it exits, and the location removes
// the container.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tffs/tffs/sdk"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	loc, err := sdk.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer loc.Close()
	node := loc.Node()
	fmt.Printf("connected; best node %q (rank %d of %d)\n", node.Name(), node.Info.Rank, len(loc.Nodes()))

	ctr, err := node.SpawnContainer(ctx, "busybox",
		sdk.Command("httpd", "-f", "-p", "80", "-h", "/www"),
		sdk.PreBootFile("/www/index.html", []byte("<h1>hello from tffs</h1>\n")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("spawned container %s on %s\n", ctr.Name, ctr.Node)

	out, code, err := ctr.Run(ctx, "ls", "/www")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ls /www → %q (exit %d)\n", out, code)

	if err := ctr.Put(ctx, "/tmp/greeting.txt", []byte("put by the hello example\n")); err != nil {
		log.Fatal(err)
	}
	back, err := ctr.Fetch(ctx, "/tmp/greeting.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fetched /tmp/greeting.txt → %q\n", back)

	out, code, err = ctr.Run(ctx, "sh", "-c", "wc -c < /www/index.html; exit 7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("real exit codes: %q exit %d\n", out, code)
	if err := ctr.Destroy(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("destroyed; bye")
}

// Command tcpserve is a tiny TCP server for the network tests, built
// static and copied into busybox containers:
//
//	tcpserve echo PORT        echo every connection (half-close passes back)
//	tcpserve sha PORT         read to EOF, answer the hex sha256 of it
//	tcpserve say PORT TEXT    write TEXT and close
//	tcpserve count PORT       read to EOF, answer the number of bytes
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: tcpserve echo|sha|say PORT [TEXT]")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", ":"+os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go serve(c.(*net.TCPConn))
	}
}

func serve(c *net.TCPConn) {
	defer c.Close()
	switch os.Args[1] {
	case "echo":
		io.Copy(c, c)
		c.CloseWrite()
		io.Copy(io.Discard, c)
	case "sha":
		h := sha256.New()
		io.Copy(h, c)
		fmt.Fprintf(c, "%x\n", h.Sum(nil))
	case "count":
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "%d\n", n)
	case "say":
		io.WriteString(c, os.Args[3]+"\n")
	}
}

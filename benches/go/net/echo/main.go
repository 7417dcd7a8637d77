// Echo server in Go: a goroutine per connection, read up to 4 KiB, write it back.
// The peer of gort's examples/echo.rs and benches/peers' tokio_echo in benches/net.sh.
// GOMAXPROCS comes from the environment.
//
//	echo [-addr 127.0.0.1:7000]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo: listen %s: %v\n", *addr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE and friends: back off instead of spinning.
			fmt.Fprintf(os.Stderr, "echo: accept: %v\n", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}

// serve copies with an explicit read/write loop (io.Copy would splice(2) between the two
// directions of the socket, a different system-call pattern from the other servers).
func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

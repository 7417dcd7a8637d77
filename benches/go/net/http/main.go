// Keep-alive "Hello, World!" HTTP server on Go's net/http.
// The peer of gort's examples/http_hello.rs and benches/peers' tokio_http in benches/net.sh.
// GOMAXPROCS comes from the environment. net/http adds a Date header to every response.
//
//	http [-addr 127.0.0.1:8080]
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

var hello = []byte("Hello, World!")

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "http: listen %s: %v\n", *addr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintf(os.Stderr, "http: %v\n", err)
		os.Exit(1)
	}
}

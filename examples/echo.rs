//! TCP echo server: one goroutine per connection, each in a plain blocking
//! read-then-write loop; a read or write that would block parks only that goroutine.
//!
//! ```text
//! cargo run --release --example echo -- --addr 127.0.0.1:7000 [--procs N]
//! ```
//!
//! The first line on stdout is `listening on ADDR` (useful with port 0).

use std::io::{ErrorKind, Read, Write};

use gort::net::TcpStream;

#[path = "support/server.rs"]
mod server;

/// Bytes per read, as in the Go and tokio echo servers it is compared with. The buffer
/// lives on the goroutine's stack and is zeroed, so it costs its pages on every
/// connection: 4 KiB keeps 10,000 connections near 10,000 × (4 KiB + a page).
const CHUNK: usize = 4 * 1024;

fn main() {
    server::serve("echo", "127.0.0.1:7000", || echo);
}

/// Sends back everything it reads until the peer closes its side.
fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; CHUNK];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return report(&e),
        };
        if let Err(e) = stream.write_all(&buf[..n]) {
            return report(&e);
        }
    }
}

/// A peer that resets or goes away mid-stream is normal for a server; anything else is
/// worth a line on stderr.
fn report(e: &std::io::Error) {
    if !matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    ) {
        eprintln!("echo: {e}");
    }
}

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

/// Bytes per read: large enough that a bulk transfer takes few syscalls, small enough
/// that 100k idle connections would not matter (the buffer lives on the goroutine's
/// stack, which only uses the pages it touches).
const CHUNK: usize = 16 * 1024;

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

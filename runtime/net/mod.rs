//! Blocking-style networking for goroutines: `std::net`'s types and signatures, with an
//! epoll netpoller underneath (Go's `net` package over `netpoll`).
//!
//! A goroutine calls `read` as it would on a thread. When the socket has no data the
//! call gets `EAGAIN` internally, parks the goroutine on the socket's read readiness and
//! lets the M run other goroutines; when the poller reports the socket readable the
//! goroutine becomes runnable and the read is retried. So one goroutine per connection
//! is the natural server shape, and ten thousand idle connections cost ten thousand
//! parked goroutines, not threads.
//!
//! ```no_run
//! use std::io::{BufRead, BufReader, Write};
//! gort::run(|| {
//!     let listener = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     gort::spawn(move || {
//!         let (stream, _) = listener.accept().unwrap();
//!         let mut line = String::new();
//!         BufReader::new(&stream).read_line(&mut line).unwrap();
//!         (&stream).write_all(line.to_uppercase().as_bytes()).unwrap();
//!     });
//!     let mut c = gort::net::TcpStream::connect(addr).unwrap();
//!     c.write_all(b"hello\n").unwrap();
//!     let mut reply = String::new();
//!     BufReader::new(&c).read_line(&mut reply).unwrap();
//!     assert_eq!(reply, "HELLO\n");
//! });
//! ```
//!
//! - `Read` and `Write` are implemented for `T` and `&T`, so any synchronous library that
//!   takes `Read + Write` (TLS, WebSocket, HTTP parsers) runs on goroutines unchanged, and
//!   one goroutine may read while another writes the same stream. Two goroutines reading
//!   the same side at once take turns.
//! - Read and write timeouts are deadlines: the waiting goroutine wakes with
//!   `ErrorKind::TimedOut`. `shutdown` wakes a goroutine blocked on that side.
//! - Names are resolved with [`blocking`](crate::blocking), since the resolver may block.
//! - A write to a closed peer is `ErrorKind::BrokenPipe` (sends use `MSG_NOSIGNAL`).
//! - `accept` failing with `EMFILE`/`ENFILE` returns the error; the listener stays usable
//!   and the pending connection is accepted once descriptors free up.
//!
//! **Outside a runtime** (on a plain thread) these types are ordinary blocking sockets:
//! created there, they are not registered with any poller and each call blocks the
//! thread, exactly as `std::net` does. A socket created on a goroutine and later used
//! from a plain thread also works: the thread waits in `poll(2)`.

mod fd;
mod sys;
mod tcp;
mod udp;
mod unix;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{Incoming as UnixIncoming, UnixListener, UnixStream};

/// Resolves `addr` as blocking work (a name lookup may block in the resolver).
fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    crate::blocking(|| addr.to_socket_addrs().map(|it| it.collect()))
}

/// Tries `f` on each address in turn; the last error if none worked.
fn each_addr<T>(
    addrs: &[SocketAddr],
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addrs {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    )
}

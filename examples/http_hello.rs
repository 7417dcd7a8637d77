//! HTTP/1.1 "Hello, World!" server: one goroutine per connection, keep-alive, pipelining.
//!
//! ```text
//! cargo run --release --example http_hello -- --addr 127.0.0.1:8080 [--procs N]
//! wrk -t2 -c256 -d5s http://127.0.0.1:8080/
//! ```
//!
//! Each connection reads into a buffer and answers every complete request in it before
//! reading again, so pipelined requests get their responses in one write and a request
//! split across reads waits for its remainder. `GET /metrics` gets the runtime's
//! counters and latency histograms in the Prometheus text format
//! ([`gort::Metrics::to_prometheus`]); every other method and path gets `200 OK` with
//! `Hello, World!` (`HEAD` without the body); a request body (`Content-Length`) is read
//! and dropped.
//!
//! Memory per connection is bounded: a request head may be at most
//! [`request::MAX_HEAD`] bytes (else `431` and close), bodies are skipped as they stream
//! by, never stored, and the responses to one batch of pipelined requests are flushed
//! every [`FLUSH_AT`] bytes.
//! A malformed request gets `400` and the connection is closed; a body sent with
//! `Transfer-Encoding` (chunked uploads) gets `501` and close, since skipping it would
//! need a chunk decoder that this example does not have.
//!
//! Files: `http_hello/request.rs` parses request heads and builds responses (pure
//! functions, unit-tested and fuzzed), this file the connection loop.

use std::io::{ErrorKind, Write};

use gort::net::TcpStream;

#[path = "http_hello/request.rs"]
mod request;

#[path = "support/linger.rs"]
mod linger;
#[path = "support/read_buf.rs"]
mod read_buf;
#[path = "support/server.rs"]
mod server;

use read_buf::ReadBuf;
use request::{parse_head, respond, Reject};

/// Room offered to each read.
const READ_ROOM: usize = 16 * 1024;
/// Pending responses are written out once they reach this size.
const FLUSH_AT: usize = 64 * 1024;

fn main() {
    server::serve("http_hello", "127.0.0.1:8080", || serve_conn);
}

/// What the connection does after answering the buffered requests.
enum Next {
    Read,
    Close,
    Reject(Reject),
}

/// Answers every complete request in `input`, appending responses to `out`; `skip`
/// carries the unread part of a request body from one call to the next. Flushes `out`
/// through `stream` whenever it grows past [`FLUSH_AT`].
fn answer(
    stream: &mut TcpStream,
    input: &mut ReadBuf,
    skip: &mut u64,
    out: &mut Vec<u8>,
) -> std::io::Result<Next> {
    loop {
        if *skip > 0 {
            let n = (*skip).min(input.len() as u64);
            input.consume(n as usize);
            *skip -= n;
            if *skip > 0 {
                return Ok(Next::Read);
            }
        }
        if input.is_empty() {
            return Ok(Next::Read);
        }
        let head = match parse_head(input.filled()) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(Next::Read),
            Err(reject) => return Ok(Next::Reject(reject)),
        };
        input.consume(head.len);
        respond(out, &head);
        if out.len() >= FLUSH_AT {
            stream.write_all(out)?;
            out.clear();
        }
        if !head.keep_alive {
            return Ok(Next::Close);
        }
        *skip = head.body;
    }
}

fn serve_conn(mut stream: TcpStream) {
    if let Err(e) = serve_requests(&mut stream) {
        if !matches!(
            e.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
        ) {
            eprintln!("http_hello: {e}");
        }
    }
}

fn serve_requests(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut input = ReadBuf::new(READ_ROOM);
    let mut out = Vec::with_capacity(1024);
    let mut skip = 0u64;
    loop {
        let next = answer(stream, &mut input, &mut skip, &mut out)?;
        if let Next::Reject(reject) = next {
            out.extend_from_slice(reject.response());
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        match next {
            Next::Read => {}
            Next::Close | Next::Reject(_) => return linger::linger_close(stream),
        }
        // EOF: the client is done; a request it left unfinished gets no answer.
        if input.read_from(stream, READ_ROOM)? == 0 {
            return Ok(());
        }
    }
}

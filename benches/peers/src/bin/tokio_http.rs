//! Keep-alive "Hello, World!" HTTP/1.1 server on tokio, requests parsed with httparse.
//! The peer of gort's `examples/http_hello.rs` and `benches/go/net/http` in
//! `benches/net.sh`. Pipelined requests are answered in one write.
//!
//!     tokio_http [--addr 127.0.0.1:8080] [--threads N]

#[path = "../common.rs"]
mod common;

use std::io::Write;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: tokio_http [--addr 127.0.0.1:8080] [--threads N]";

/// The same bytes as gort's examples/http_hello.rs sends.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\
Connection: keep-alive\r\n\r\nHello, World!";
const RESPONSE_CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\
Connection: close\r\n\r\nHello, World!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// A request head larger than this is refused.
const MAX_HEAD: usize = 64 * 1024;

fn main() {
    let args = common::Args::parse(&["addr", "threads"], USAGE);
    let addr: String = args.get("addr", "127.0.0.1:8080".to_string());
    let threads: usize = args.get("threads", 2);
    common::raise_nofile();
    common::runtime(threads).block_on(async move {
        let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
            eprintln!("tokio_http: bind {addr}: {e}");
            std::process::exit(1)
        });
        println!("listening on {}", listener.local_addr().unwrap());
        std::io::stdout().flush().ok();
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream));
                }
                Err(e) => {
                    eprintln!("tokio_http: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
}

enum Parsed {
    /// A whole request of this many bytes (head and body); `close` after answering it.
    Request {
        len: usize,
        close: bool,
    },
    Partial,
    Bad,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(head)) => {
            let mut body = 0usize;
            let mut close = req.version == Some(0);
            for h in req.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    match std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                    {
                        Some(n) => body = n,
                        None => return Parsed::Bad,
                    }
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    return Parsed::Bad; // chunked request bodies are not supported
                } else if h.name.eq_ignore_ascii_case("connection") {
                    let v = h.value;
                    if v.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if v.eq_ignore_ascii_case(b"keep-alive") {
                        close = false;
                    }
                }
            }
            if buf.len() < head + body {
                Parsed::Partial
            } else {
                Parsed::Request {
                    len: head + body,
                    close,
                }
            }
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => Parsed::Partial,
        _ => Parsed::Bad,
    }
}

async fn serve(mut stream: TcpStream) {
    stream.set_nodelay(true).ok();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        let mut close = false;
        loop {
            match parse(&buf[start..]) {
                Parsed::Request { len, close: c } => {
                    out.extend_from_slice(if c { RESPONSE_CLOSE } else { RESPONSE });
                    start += len;
                    if c {
                        close = true;
                        break;
                    }
                }
                Parsed::Partial => break,
                Parsed::Bad => {
                    out.extend_from_slice(BAD_REQUEST);
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..start);
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            return;
        }
    }
}

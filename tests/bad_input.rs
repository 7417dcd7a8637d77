//! Hostile input over real sockets: each test starts the real `mini_redis` or
//! `http_hello` binary on `127.0.0.1:0`, connects a well-behaved client first, then
//! attacks the server from another connection (truncated requests, lengths and counts
//! far past the limits, a 10 MiB line, garbage, one-byte writes) and checks:
//!
//! - the attack gets the answer stated in the test: an error reply and a close, or a
//!   close without a reply;
//! - the well-behaved client gets correct answers before, during (while the attacking
//!   connection is open, mid-request) and after the attack;
//! - the server's memory stays bounded: its peak RSS (`VmHWM`, reset before the attack
//!   through `/proc/<pid>/clear_refs` when the kernel allows it) and its RSS afterwards
//!   are within [`MEMORY_BOUND`] of its RSS before.
//!
//! Every attack ends with the client closing its side and reading until the server
//! closes, so the server has processed every byte before its memory is read. Every
//! read and write has a timeout; servers are killed when their guard drops. The
//! examples are built for this test's profile and target dir the first time a server
//! is needed (`support/examples.rs`, shared with `net_examples.rs`).

#[path = "support/examples.rs"]
mod examples;

use examples::{pattern, read_header_lines, read_to_eof, resp_command, Server};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

/// The servers under attack, built by the first test that needs one.
const EXAMPLES: &[&str] = &["mini_redis", "http_hello"];
/// How much a server's memory may grow because of one attack.
const MEMORY_BOUND: u64 = 64 << 20;

// ---------------------------------------------------------------- memory

/// `VmRSS` and `VmHWM` (peak RSS) of a process, in bytes.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss: u64,
    peak: u64,
}

fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| -> u64 {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"));
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad line {line:?}"));
        kib * 1024
    };
    Memory {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
    }
}

/// Resets the peak RSS to the current RSS (Linux ≥ 4.0); false where not permitted,
/// and then the peak also covers the server's start, which only makes the bound
/// stricter.
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

// ---------------------------------------------------------------- harness

/// One request and the exact answer it must get, on a well-behaved client's connection;
/// `n` counts the exchanges before it.
type Exchange = fn(r: &mut BufReader<TcpStream>, n: usize);

/// A client that behaves and checks each answer it gets.
struct Good {
    r: BufReader<TcpStream>,
    exchange: Exchange,
    /// How many checks passed.
    n: usize,
}

impl Good {
    fn check(&mut self) {
        (self.exchange)(&mut self.r, self.n);
        self.n += 1;
    }
}

/// Runs `attack` against a fresh `name` server with a well-behaved client (doing
/// `exchange`) that connected first; `attack` must call `good.check()` while its own
/// connection is open mid-request. Checks the good client before and after, and bounds
/// the memory.
fn under_attack(name: &str, exchange: Exchange, attack: impl FnOnce(&Server, &mut Good)) {
    let mut server = Server::start(name, &["--procs", "2"]);
    let mut client = Good {
        r: BufReader::new(server.connect()),
        exchange,
        n: 0,
    };
    client.check();
    let resettable = reset_peak(server.pid());
    let before = memory(server.pid());
    attack(&server, &mut client);
    let during = client.n;
    client.check();
    assert!(during >= 2, "the attack never checked the good client");
    let after = memory(server.pid());
    let msg = format!("{name}: before {before:?}, after {after:?}, peak reset {resettable}");
    eprintln!("{msg}");
    assert!(after.peak < before.rss + MEMORY_BOUND, "peak grew: {msg}");
    assert!(after.rss < before.rss + MEMORY_BOUND, "RSS grew: {msg}");
    server.assert_alive();
}

/// Sends `partial` (an unfinished request) on a new connection, checks the good client
/// while it is pending, then closes our side: the server must close without answering.
fn dropped_at_eof(server: &Server, good: &mut Good, partial: &[u8]) {
    let mut s = server.connect();
    s.write_all(partial).unwrap();
    good.check();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut s), b"", "closed without an answer");
}

/// Sends `data`, then closes our side, from another thread, so that a server that
/// answers and closes before reading it all cannot block the test. Errors after the
/// server closed (reset, broken pipe) are expected; others fail the test at `join`.
fn send_and_close(s: &TcpStream, data: Vec<u8>) -> thread::JoinHandle<()> {
    let mut w = s.try_clone().expect("clone");
    thread::spawn(move || {
        let sent = data
            .chunks(64 * 1024)
            .try_for_each(|c| w.write_all(c))
            .and_then(|()| w.shutdown(Shutdown::Write));
        if let Err(e) = sent {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::NotConnected
                ),
                "sending: {e}"
            );
        }
    })
}

/// Writes `data` one byte per `write` call (`TCP_NODELAY` is on, so each is a segment).
fn write_bytewise(mut s: &TcpStream, data: &[u8]) {
    for b in data {
        s.write_all(std::slice::from_ref(b)).unwrap();
    }
}

// ---------------------------------------------------------------- mini_redis

/// Reads one RESP reply (simple, error, integer or bulk) and returns its bytes.
fn read_reply(r: &mut impl BufRead) -> Vec<u8> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).expect("reply line");
    assert!(line.ends_with(b"\r\n"), "reply {line:?}");
    if line[0] == b'$' && line[1] != b'-' {
        let len: usize = std::str::from_utf8(&line[1..line.len() - 2])
            .unwrap()
            .parse()
            .unwrap();
        let start = line.len();
        line.resize(start + len + 2, 0);
        r.read_exact(&mut line[start..]).expect("bulk data");
    }
    line
}

/// Asserts that the next reply is `error` and that the server closes after it.
fn error_then_close(r: &mut impl BufRead, error: &[u8]) {
    assert_eq!(read_reply(r), error);
    assert_eq!(read_to_eof(r), b"", "closed after the error");
}

/// Sends a command, returns the reply.
fn ask(r: &mut BufReader<TcpStream>, request: &[u8]) -> Vec<u8> {
    r.get_mut().write_all(request).unwrap();
    read_reply(r)
}

/// The good Redis client: echoes a payload and increments a counter; both answers
/// must be exact.
fn redis_exchange(r: &mut BufReader<TcpStream>, n: usize) {
    let payload = pattern(n as u64, 1000);
    let mut want = format!("${}\r\n", payload.len()).into_bytes();
    want.extend_from_slice(&payload);
    want.extend_from_slice(b"\r\n");
    assert_eq!(ask(r, &resp_command(&[b"ECHO", &payload])), want);
    let count = ask(r, &resp_command(&[b"INCR", b"good"]));
    assert_eq!(count, format!(":{}\r\n", n + 1).as_bytes());
}

/// EOF in the middle of a command: the server closes without a reply, and the
/// half-sent `SET` never happens.
#[test]
fn redis_truncated_command_is_dropped_at_eof() {
    under_attack("mini_redis", redis_exchange, |server, good| {
        dropped_at_eof(server, good, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel");
        let get = ask(&mut good.r, &resp_command(&[b"GET", b"k"]));
        assert_eq!(get, b"$-1\r\n", "k was not set");
    });
}

/// A bulk string announcing 1 GiB (over the 512 MiB cap): protocol error and close,
/// nothing allocated. Outside an array the same line is an inline command: an unknown
/// command error, and the connection goes on.
#[test]
fn redis_bulk_over_the_cap_is_a_protocol_error() {
    under_attack("mini_redis", redis_exchange, |server, good| {
        let mut s = server.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        s.write_all(b"$1073741824\r\n").unwrap();
        assert_eq!(
            read_reply(&mut r),
            b"-ERR unknown command '$1073741824'\r\n"
        );
        s.write_all(b"*1\r\n$1073741824\r\n").unwrap();
        good.check();
        error_then_close(&mut r, b"-ERR Protocol error: invalid bulk length\r\n");
    });
}

/// A bulk string at the cap (512 MiB) is legal: the server must buffer only what
/// arrives (4 MiB here), not the announced length. EOF before the end: close, no reply.
#[test]
fn redis_bulk_at_the_cap_grows_only_with_the_data() {
    under_attack("mini_redis", redis_exchange, |server, good| {
        let mut attack = b"*2\r\n$4\r\nECHO\r\n$536870912\r\n".to_vec();
        attack.extend_from_slice(&pattern(7, 4 << 20));
        dropped_at_eof(server, good, &attack);
    });
}

/// An array announcing 2^31 elements: protocol error and close. One at the cap
/// (2^20) is legal and must not be allocated up front: EOF after two elements closes it.
#[test]
fn redis_array_counts_are_capped_and_not_allocated() {
    under_attack("mini_redis", redis_exchange, |server, good| {
        let mut s = server.connect();
        s.write_all(b"*2147483648\r\n").unwrap();
        good.check();
        let mut r = BufReader::new(s.try_clone().unwrap());
        error_then_close(&mut r, b"-ERR Protocol error: invalid multibulk length\r\n");

        dropped_at_eof(server, good, b"*1048576\r\n$4\r\nECHO\r\n$1\r\nx\r\n");
    });
}

/// A 10 MiB inline line: cut off at 64 KiB with a protocol error, then closed.
#[test]
fn redis_endless_inline_line_is_cut_off() {
    under_attack("mini_redis", redis_exchange, |server, good| {
        let s = server.connect();
        let mut line = b"SET k ".to_vec();
        line.resize(10 << 20, b'a');
        let sender = send_and_close(&s, line);
        good.check();
        error_then_close(
            &mut BufReader::new(&s),
            b"-ERR Protocol error: too big inline request\r\n",
        );
        sender.join().unwrap();
    });
}

/// 1 MiB of random bytes: every reply is an error line (unknown commands, then a
/// protocol error), and the connection is closed.
#[test]
fn redis_garbage_gets_only_errors() {
    under_attack("mini_redis", redis_exchange, |server, good| {
        let mut s = server.connect();
        let mut junk = pattern(42, 1 << 20);
        junk[0] = b'x'; // not `*`: starts as an inline command.
        let sender = send_and_close(&s, junk);
        good.check();
        let replies = read_to_eof(&mut s);
        sender.join().unwrap();
        assert!(!replies.is_empty(), "at least one error reply");
        assert!(replies.ends_with(b"\r\n"), "whole replies only");
        for line in replies[..replies.len() - 2].split(|&b| b == b'\n') {
            assert!(line.starts_with(b"-ERR "), "not an error: {line:?}");
        }
    });
}

/// A command arriving one byte per write is answered once, when complete, and the
/// connection goes on.
#[test]
fn redis_one_byte_writes_are_reassembled() {
    under_attack("mini_redis", redis_exchange, |server, good| {
        let s = server.connect();
        let echo = resp_command(&[b"ECHO", b"hello"]);
        write_bytewise(&s, &echo[..echo.len() - 1]);
        good.check();
        write_bytewise(&s, &echo[echo.len() - 1..]);
        write_bytewise(&s, b"PING\r\n");
        let mut r = BufReader::new(&s);
        assert_eq!(read_reply(&mut r), b"$5\r\nhello\r\n");
        assert_eq!(read_reply(&mut r), b"+PONG\r\n", "nothing else in between");
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut r), b"", "nothing after");
    });
}

// ---------------------------------------------------------------- http_hello

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

/// Reads one response and returns its status and body.
fn read_response(r: &mut impl BufRead) -> (u16, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"));
    let mut len = 0;
    for l in read_header_lines(r) {
        if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().expect("content-length");
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("body");
    (status, body)
}

/// Asserts that the next response is the example's hello page.
fn assert_hello(r: &mut impl BufRead) {
    assert_eq!(read_response(r), (200, b"Hello, World!".to_vec()));
}

/// The good HTTP client: a keep-alive GET and its exact response.
fn http_exchange(r: &mut BufReader<TcpStream>, _: usize) {
    r.get_mut().write_all(GET).unwrap();
    assert_hello(r);
}

/// Sends `request` on a new connection (and closes our side, from another thread),
/// checks the good client meanwhile, then asserts that the server answered `status`,
/// once, and closed.
fn answered_and_closed(server: &Server, good: &mut Good, request: Vec<u8>, status: u16) {
    let mut s = server.connect();
    let sender = send_and_close(&s, request);
    good.check();
    let answer = read_to_eof(&mut s);
    let mut r = &answer[..];
    assert_eq!(read_response(&mut r).0, status);
    assert!(r.is_empty(), "more after the response: {r:?}");
    sender.join().unwrap();
}

/// EOF in the middle of a request head: closed without a response.
#[test]
fn http_truncated_request_is_dropped_at_eof() {
    under_attack("http_hello", http_exchange, |server, good| {
        dropped_at_eof(server, good, b"GET / HTTP/1.1\r\nHost: a\r\n");
    });
}

/// A 10 MiB header line: `431` once the head passes 8 KiB, then closed.
#[test]
fn http_endless_header_line_gets_431() {
    under_attack("http_hello", http_exchange, |server, good| {
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
        head.resize(10 << 20, b'a');
        answered_and_closed(server, good, head, 431);
    });
}

/// The count analogue: 100,000 headers get `431` too (the parser stops at 64).
#[test]
fn http_too_many_headers_get_431() {
    under_attack("http_hello", http_exchange, |server, good| {
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..100_000 {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        answered_and_closed(server, good, head, 431);
    });
}

/// A body announced as 2^40 bytes is skipped as it streams by, never stored: the
/// request is answered, 8 MiB of body cost no memory, EOF closes the connection.
#[test]
fn http_huge_body_is_skipped_not_stored() {
    under_attack("http_hello", http_exchange, |server, good| {
        let mut s = server.connect();
        s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1099511627776\r\n\r\n")
            .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        assert_hello(&mut r);
        let body = pattern(3, 4 << 20);
        s.write_all(&body).unwrap();
        good.check();
        s.write_all(&body).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut r), b"", "closed at EOF, nothing more");
    });
}

/// 1 MiB of random bytes: `400` and close.
#[test]
fn http_garbage_gets_400() {
    under_attack("http_hello", http_exchange, |server, good| {
        answered_and_closed(server, good, pattern(42, 1 << 20), 400);
    });
}

/// A request arriving one byte per write gets one response, and the connection goes
/// on.
#[test]
fn http_one_byte_writes_are_reassembled() {
    under_attack("http_hello", http_exchange, |server, good| {
        let s = server.connect();
        write_bytewise(&s, &GET[..GET.len() - 1]);
        good.check();
        write_bytewise(&s, &GET[GET.len() - 1..]);
        let mut r = BufReader::new(&s);
        assert_hello(&mut r);
        (&s).write_all(GET).unwrap();
        assert_hello(&mut r);
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut r), b"", "nothing after");
    });
}

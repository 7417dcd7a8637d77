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
//! is needed (like `net_examples.rs` does).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::Duration;

/// Bound on any single socket read or write, on a server's start and on a build.
const TIMEOUT: Duration = Duration::from_secs(20);
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// How much a server's memory may grow because of one attack.
const MEMORY_BOUND: u64 = 64 << 20;

// ---------------------------------------------------------------- servers

/// Kills and reaps the child when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/<profile>/examples`, with the two servers built (once per test process) by
/// this test's profile, so a run of only this test never drives stale binaries.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/<test binary>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "--example",
                "mini_redis",
                "--example",
                "http_hello",
            ])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .arg("--target-dir")
            .arg(profile_dir.parent().expect("target/<profile>"));
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => {}
            Some("release") => {
                cargo.arg("--release");
            }
            Some(other) => {
                cargo.args(["--profile", other]);
            }
            None => panic!("unexpected test binary location {}", exe.display()),
        }
        let mut child = ChildGuard(
            cargo
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("running cargo"),
        );
        let mut stderr = child.0.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        // cargo's stderr closes when it exits.
        let text = rx
            .recv_timeout(BUILD_TIMEOUT)
            .unwrap_or_else(|_| panic!("building the examples took over {BUILD_TIMEOUT:?}"));
        let status = child.0.wait().expect("waiting for cargo");
        assert!(status.success(), "building the examples failed:\n{text}");
        profile_dir.join("examples")
    })
}

struct Server {
    child: ChildGuard,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str) -> Server {
        let path = examples_dir().join(name);
        let child = Command::new(&path)
            .args(["--addr", "127.0.0.1:0", "--procs", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The servers log dropped connections there; the test output keeps it.
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let mut child = ChildGuard(child);
        let stdout = child.0.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining, so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => panic!("{name} did not announce its address: {other:?}"),
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        Server { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr, TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.addr));
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.set_write_timeout(Some(TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.0.try_wait() {
            panic!("server exited: {status}");
        }
    }
}

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

/// A client that behaves and checks each answer it gets.
trait Good {
    fn check(&mut self);
    /// How many checks passed.
    fn checks(&self) -> usize;
}

/// Runs `attack` against a fresh `name` server with a well-behaved client that
/// connected first; `attack` must call `good.check()` while its own connection is open
/// mid-request. Checks the good client before and after, and bounds the memory.
fn under_attack<G: Good>(
    name: &str,
    good: impl FnOnce(&Server) -> G,
    attack: impl FnOnce(&Server, &mut G),
) {
    let mut server = Server::start(name);
    let mut client = good(&server);
    client.check();
    let resettable = reset_peak(server.pid());
    let before = memory(server.pid());
    attack(&server, &mut client);
    let during = client.checks();
    client.check();
    assert!(during >= 2, "the attack never checked the good client");
    let after = memory(server.pid());
    let msg = format!("{name}: before {before:?}, after {after:?}, peak reset {resettable}");
    eprintln!("{msg}");
    assert!(after.peak < before.rss + MEMORY_BOUND, "peak grew: {msg}");
    assert!(after.rss < before.rss + MEMORY_BOUND, "RSS grew: {msg}");
    server.assert_alive();
}

/// Reads until the server closes (a reset after its lingering close counts), bounded
/// by the socket's read timeout.
fn read_to_eof(s: &mut impl Read) -> Vec<u8> {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => rest,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => rest,
        Err(e) => panic!("waiting for the server to close: {e} (got {rest:?})"),
    }
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

/// Deterministic garbage (xorshift).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

// ---------------------------------------------------------------- mini_redis

/// RESP for a command.
fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

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

/// Increments a counter and echoes a payload; both answers must be exact.
struct RedisClient {
    r: BufReader<TcpStream>,
    n: usize,
}

impl RedisClient {
    fn new(server: &Server) -> Self {
        RedisClient {
            r: BufReader::new(server.connect()),
            n: 0,
        }
    }

    fn ask(&mut self, request: &[u8]) -> Vec<u8> {
        self.r.get_mut().write_all(request).unwrap();
        read_reply(&mut self.r)
    }
}

impl Good for RedisClient {
    fn check(&mut self) {
        let payload = garbage(self.n as u64, 1000);
        let mut want = format!("${}\r\n", payload.len()).into_bytes();
        want.extend_from_slice(&payload);
        want.extend_from_slice(b"\r\n");
        assert_eq!(self.ask(&cmd(&[b"ECHO", &payload])), want);
        let count = self.ask(&cmd(&[b"INCR", b"good"]));
        assert_eq!(count, format!(":{}\r\n", self.n + 1).as_bytes());
        self.n += 1;
    }

    fn checks(&self) -> usize {
        self.n
    }
}

/// EOF in the middle of a command: the server closes without a reply, and the
/// half-sent `SET` never happens.
#[test]
fn redis_truncated_command_is_dropped_at_eof() {
    under_attack("mini_redis", RedisClient::new, |server, good| {
        let mut s = server.connect();
        s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel")
            .unwrap();
        good.check();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut s), b"", "closed without a reply");
        assert_eq!(good.ask(&cmd(&[b"GET", b"k"])), b"$-1\r\n", "k was not set");
    });
}

/// A bulk string announcing 1 GiB (over the 512 MiB cap): protocol error and close,
/// nothing allocated. Outside an array the same line is an inline command: an unknown
/// command error, and the connection goes on.
#[test]
fn redis_bulk_over_the_cap_is_a_protocol_error() {
    under_attack("mini_redis", RedisClient::new, |server, good| {
        let mut s = server.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        s.write_all(b"$1073741824\r\n").unwrap();
        assert_eq!(
            read_reply(&mut r),
            b"-ERR unknown command '$1073741824'\r\n"
        );
        s.write_all(b"*1\r\n$1073741824\r\n").unwrap();
        good.check();
        assert_eq!(
            read_reply(&mut r),
            b"-ERR Protocol error: invalid bulk length\r\n"
        );
        assert_eq!(read_to_eof(&mut r), b"", "closed after the error");
    });
}

/// A bulk string at the cap (512 MiB) is legal: the server must buffer only what
/// arrives (4 MiB here), not the announced length. EOF before the end: close, no reply.
#[test]
fn redis_bulk_at_the_cap_grows_only_with_the_data() {
    under_attack("mini_redis", RedisClient::new, |server, good| {
        let mut s = server.connect();
        let mut attack = b"*2\r\n$4\r\nECHO\r\n$536870912\r\n".to_vec();
        attack.extend_from_slice(&garbage(7, 4 << 20));
        s.write_all(&attack).unwrap();
        good.check();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut s), b"", "closed without a reply");
    });
}

/// An array announcing 2^31 elements: protocol error and close. One at the cap
/// (2^20) is legal and must not be allocated up front: EOF after two elements closes it.
#[test]
fn redis_array_counts_are_capped_and_not_allocated() {
    under_attack("mini_redis", RedisClient::new, |server, good| {
        let mut s = server.connect();
        s.write_all(b"*2147483648\r\n").unwrap();
        good.check();
        let mut r = BufReader::new(s.try_clone().unwrap());
        assert_eq!(
            read_reply(&mut r),
            b"-ERR Protocol error: invalid multibulk length\r\n"
        );
        assert_eq!(read_to_eof(&mut r), b"", "closed after the error");

        let mut s = server.connect();
        s.write_all(b"*1048576\r\n$4\r\nECHO\r\n$1\r\nx\r\n")
            .unwrap();
        good.check();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut s), b"", "closed without a reply");
    });
}

/// A 10 MiB inline line: cut off at 64 KiB with a protocol error, then closed.
#[test]
fn redis_endless_inline_line_is_cut_off() {
    under_attack("mini_redis", RedisClient::new, |server, good| {
        let s = server.connect();
        let mut line = b"SET k ".to_vec();
        line.resize(10 << 20, b'a');
        let sender = send_and_close(&s, line);
        good.check();
        let mut r = BufReader::new(&s);
        assert_eq!(
            read_reply(&mut r),
            b"-ERR Protocol error: too big inline request\r\n"
        );
        assert_eq!(read_to_eof(&mut r), b"", "closed after the error");
        sender.join().unwrap();
    });
}

/// 1 MiB of random bytes: every reply is an error line (unknown commands, then a
/// protocol error), and the connection is closed.
#[test]
fn redis_garbage_gets_only_errors() {
    under_attack("mini_redis", RedisClient::new, |server, good| {
        let mut s = server.connect();
        let mut junk = garbage(42, 1 << 20);
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
    under_attack("mini_redis", RedisClient::new, |server, good| {
        let s = server.connect();
        let echo = cmd(&[b"ECHO", b"hello"]);
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
    loop {
        line.clear();
        r.read_line(&mut line).expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
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

/// Status of the first response in `bytes`, which must be all there is (the server
/// closed after it).
fn only_response(bytes: &[u8]) -> u16 {
    let mut r = bytes;
    let (status, _) = read_response(&mut r);
    assert!(r.is_empty(), "more after the response: {r:?}");
    status
}

struct HttpClient {
    r: BufReader<TcpStream>,
    n: usize,
}

impl HttpClient {
    fn new(server: &Server) -> Self {
        HttpClient {
            r: BufReader::new(server.connect()),
            n: 0,
        }
    }
}

impl Good for HttpClient {
    fn check(&mut self) {
        self.r.get_mut().write_all(GET).unwrap();
        assert_eq!(read_response(&mut self.r), (200, b"Hello, World!".to_vec()));
        self.n += 1;
    }

    fn checks(&self) -> usize {
        self.n
    }
}

/// EOF in the middle of a request head: closed without a response.
#[test]
fn http_truncated_request_is_dropped_at_eof() {
    under_attack("http_hello", HttpClient::new, |server, good| {
        let mut s = server.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
        good.check();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut s), b"", "closed without a response");
    });
}

/// A 10 MiB header line: `431` once the head passes 8 KiB, then closed.
#[test]
fn http_endless_header_line_gets_431() {
    under_attack("http_hello", HttpClient::new, |server, good| {
        let mut s = server.connect();
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
        head.resize(10 << 20, b'a');
        let sender = send_and_close(&s, head);
        good.check();
        assert_eq!(only_response(&read_to_eof(&mut s)), 431);
        sender.join().unwrap();
    });
}

/// The count analogue: 100,000 headers get `431` too (the parser stops at 64).
#[test]
fn http_too_many_headers_get_431() {
    under_attack("http_hello", HttpClient::new, |server, good| {
        let mut s = server.connect();
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..100_000 {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let sender = send_and_close(&s, head);
        good.check();
        assert_eq!(only_response(&read_to_eof(&mut s)), 431);
        sender.join().unwrap();
    });
}

/// A body announced as 2^40 bytes is skipped as it streams by, never stored: the
/// request is answered, 8 MiB of body cost no memory, EOF closes the connection.
#[test]
fn http_huge_body_is_skipped_not_stored() {
    under_attack("http_hello", HttpClient::new, |server, good| {
        let mut s = server.connect();
        s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1099511627776\r\n\r\n")
            .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        assert_eq!(read_response(&mut r), (200, b"Hello, World!".to_vec()));
        let body = garbage(3, 4 << 20);
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
    under_attack("http_hello", HttpClient::new, |server, good| {
        let mut s = server.connect();
        let sender = send_and_close(&s, garbage(42, 1 << 20));
        good.check();
        assert_eq!(only_response(&read_to_eof(&mut s)), 400);
        sender.join().unwrap();
    });
}

/// A request arriving one byte per write gets one response, and the connection goes
/// on.
#[test]
fn http_one_byte_writes_are_reassembled() {
    under_attack("http_hello", HttpClient::new, |server, good| {
        let s = server.connect();
        write_bytewise(&s, &GET[..GET.len() - 1]);
        good.check();
        write_bytewise(&s, &GET[GET.len() - 1..]);
        let mut r = BufReader::new(&s);
        assert_eq!(read_response(&mut r), (200, b"Hello, World!".to_vec()));
        (&s).write_all(GET).unwrap();
        assert_eq!(read_response(&mut r), (200, b"Hello, World!".to_vec()));
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut r), b"", "nothing after");
    });
}

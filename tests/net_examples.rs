//! End-to-end tests of the network examples (`echo`, `http_hello`, `mini_redis`): each
//! test starts the example's binary as a child process on `127.0.0.1:0`, reads the port
//! from its "listening on ADDR" line and talks to it over real sockets from plain
//! threads, so the whole path (accept, netpoller, parked reads and writes) is exercised.
//!
//! The first test to need a server builds the examples with this test's profile (see
//! `support/examples.rs`). Every wait is bounded: sockets have read/write timeouts,
//! child processes are killed when their guard is dropped, and polls have deadlines.

#[path = "support/examples.rs"]
mod examples;

use examples::{
    pattern, read_header_lines, read_to_eof, resp_command, run_bounded, Server, TIMEOUT,
};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// The examples under test, built by the first test that needs a server.
const EXAMPLES: &[&str] = &["echo", "http_hello", "mini_redis"];

// ---------------------------------------------------------------- helpers

fn join_all(handles: Vec<thread::JoinHandle<()>>) {
    for h in handles {
        if let Err(panic) = h.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

// ---------------------------------------------------------------- echo

#[test]
fn echo_round_trips_for_many_concurrent_clients() {
    let mut server = Server::start("echo", &[]);
    let addr = server.addr;
    let clients: Vec<_> = (0..32u64)
        .map(|c| {
            thread::spawn(move || {
                let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                for i in 0..50u64 {
                    let msg = pattern(c * 1000 + i, 1 + ((c * 131 + i * 977) % 8192) as usize);
                    s.write_all(&msg).unwrap();
                    let mut back = vec![0; msg.len()];
                    s.read_exact(&mut back).unwrap();
                    assert!(back == msg, "client {c} message {i} came back different");
                }
                s.shutdown(Shutdown::Write).unwrap();
                assert!(read_to_eof(&mut s).is_empty(), "nothing after the echoes");
            })
        })
        .collect();
    join_all(clients);
    server.assert_alive();
}

/// Bulk transfers in both directions at once on one P: the server's writes must park
/// when the client is slow to read, and its reads when the client is slow to write.
#[test]
fn echo_streams_large_transfers_on_one_proc() {
    const LEN: usize = 4 << 20;
    let mut server = Server::start("echo", &["--procs", "1"]);
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let s = server.connect();
            thread::spawn(move || {
                let data = pattern(c, LEN);
                let mut writer = s.try_clone().unwrap();
                let sent = data.clone();
                let w = thread::spawn(move || {
                    for chunk in sent.chunks(100_000) {
                        writer.write_all(chunk).unwrap();
                    }
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let back = read_to_eof(&mut &s);
                w.join().unwrap();
                assert_eq!(back.len(), LEN, "client {c}: echoed length");
                assert!(back == data, "client {c}: echoed bytes differ");
            })
        })
        .collect();
    join_all(clients);
    server.assert_alive();
}

// ---------------------------------------------------------------- http_hello

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn assert_hello(&self) {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.body, b"Hello, World!", "{self:?}");
        assert_eq!(self.header("content-length"), Some("13"));
    }
}

/// Reads one response; `head_only` for answers to HEAD (no body despite the length).
fn read_response(r: &mut impl BufRead, head_only: bool) -> Response {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let mut parts = line.trim_end().splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers = read_header_lines(r)
        .iter()
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header has a colon");
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = resp
        .header("content-length")
        .expect("content-length")
        .parse()
        .unwrap();
    if !head_only {
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body).expect("body");
    }
    resp
}

#[test]
fn http_keeps_connections_alive() {
    let server = Server::start("http_hello", &[]);
    let s = server.connect();
    let mut r = BufReader::new(&s);
    for _ in 0..5 {
        (&s).write_all(GET).unwrap();
        let resp = read_response(&mut r, false);
        resp.assert_hello();
        assert_ne!(resp.header("connection"), Some("close"));
    }
    // HEAD: same headers, no body, connection still usable.
    (&s).write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, true).status, 200);
    (&s).write_all(GET).unwrap();
    read_response(&mut r, false).assert_hello();
}

#[test]
fn http_serves_the_runtime_metrics_in_prometheus_format() {
    let server = Server::start("http_hello", &[]);
    let s = server.connect();
    let mut r = BufReader::new(&s);
    for _ in 0..20 {
        (&s).write_all(GET).unwrap();
        read_response(&mut r, false).assert_hello();
    }
    (&s).write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(resp.body).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid Prometheus text");
    let switches: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "gort_switches_total")
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) => v,
            _ => panic!("switches is a counter"),
        })
        .sum();
    assert!(switches >= 1.0, "{text}");
    assert!(scrape.docs.contains_key("gort_sched_latency_seconds"));
    // The connection stays usable.
    (&s).write_all(GET).unwrap();
    read_response(&mut r, false).assert_hello();
}

#[test]
fn http_answers_pipelined_requests_in_order() {
    let server = Server::start("http_hello", &[]);
    let s = server.connect();
    // A request with a body in the middle: the body must be skipped, not parsed.
    let mut batch = GET.repeat(10);
    batch.extend_from_slice(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nGET / bad");
    batch.extend_from_slice(&GET.repeat(10));
    batch.extend_from_slice(b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    (&s).write_all(&batch).unwrap();
    let mut r = BufReader::new(&s);
    for _ in 0..21 {
        read_response(&mut r, false).assert_hello();
    }
    let last = read_response(&mut r, false);
    last.assert_hello();
    assert_eq!(last.header("connection"), Some("close"));
    assert!(
        read_to_eof(&mut r).is_empty(),
        "closed after Connection: close"
    );
}

/// The server must wait for the rest of a request that arrives in pieces: no answer
/// until the last piece, then exactly one.
#[test]
fn http_waits_for_requests_split_across_writes() {
    let server = Server::start("http_hello", &[]);
    let s = server.connect();
    let pieces: [&[u8]; 4] = [b"GE", b"T / HTTP/1.1\r\nHo", b"st: t\r\n", b"\r\n"];
    for (i, piece) in pieces.iter().enumerate() {
        (&s).write_all(piece).unwrap();
        if i + 1 < pieces.len() {
            // A negative check needs a bound: an early answer would arrive well within it.
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut byte = [0u8; 1];
            match (&s).read(&mut byte) {
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                other => panic!("answered after piece {i} only: {other:?}"),
            }
        }
    }
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut r = BufReader::new(&s);
    read_response(&mut r, false).assert_hello();
    // And the connection goes on.
    (&s).write_all(GET).unwrap();
    read_response(&mut r, false).assert_hello();
}

#[test]
fn http_rejects_malformed_and_oversized_requests() {
    let server = Server::start("http_hello", &[]);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n".to_vec(), 400),
        (b"\x00\x01\x02 garbage\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400), // no Host
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: nope\r\n\r\n".to_vec(),
            400,
        ),
        (
            [
                &b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: "[..],
                &[b'a'; 9000],
                b"\r\n\r\n",
            ]
            .concat(),
            431,
        ),
        // An endless head: the server must answer at its cap, not wait for the end.
        (
            [&b"GET / HTTP/1.1\r\nX: "[..], &[b'a'; 20_000]].concat(),
            431,
        ),
    ];
    for (request, want) in cases {
        let s = server.connect();
        // A valid request first: the error must not spoil earlier answers.
        (&s).write_all(GET).unwrap();
        (&s).write_all(&request).unwrap();
        let mut r = BufReader::new(&s);
        read_response(&mut r, false).assert_hello();
        let resp = read_response(&mut r, false);
        let start = String::from_utf8_lossy(&request[..request.len().min(40)]).into_owned();
        assert_eq!(resp.status, want, "{start:?}");
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(read_to_eof(&mut r).is_empty(), "closed after {want}");
    }
}

#[test]
fn http_closes_after_http10_unless_asked_to_keep_alive() {
    let server = Server::start("http_hello", &[]);
    let s = server.connect();
    (&s).write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut r = BufReader::new(&s);
    read_response(&mut r, false).assert_hello();
    assert!(read_to_eof(&mut r).is_empty());

    let s = server.connect();
    let mut r = BufReader::new(&s);
    for _ in 0..3 {
        (&s).write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut r, false);
        resp.assert_hello();
        assert_eq!(resp.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn http_serves_many_connections_at_once() {
    let mut server = Server::start("http_hello", &[]);
    let addr = server.addr;
    let clients: Vec<_> = (0..64)
        .map(|_| {
            thread::spawn(move || {
                let s = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                let mut r = BufReader::new(&s);
                for _ in 0..20 {
                    (&s).write_all(GET).unwrap();
                    read_response(&mut r, false).assert_hello();
                }
            })
        })
        .collect();
    join_all(clients);
    server.assert_alive();
}

// ---------------------------------------------------------------- mini_redis

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

fn read_reply(r: &mut impl BufRead) -> Reply {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).expect("reply line");
    assert!(
        line.ends_with(b"\r\n"),
        "reply line {:?}",
        String::from_utf8_lossy(&line)
    );
    let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let int = || text.parse::<i64>().expect("a number");
    match line[0] {
        b'+' => Reply::Simple(text),
        b'-' => Reply::Error(text),
        b':' => Reply::Int(int()),
        b'$' if int() < 0 => Reply::Bulk(None),
        b'$' => {
            let mut data = vec![0; int() as usize + 2];
            r.read_exact(&mut data).expect("bulk data");
            assert!(data.ends_with(b"\r\n"));
            data.truncate(data.len() - 2);
            Reply::Bulk(Some(data))
        }
        b'*' if int() < 0 => Reply::Array(None),
        b'*' => Reply::Array(Some((0..int()).map(|_| read_reply(r)).collect())),
        other => panic!("unexpected reply type {:?}", other as char),
    }
}

/// One client connection speaking RESP.
struct Redis {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Redis {
    fn connect(server: &Server) -> Redis {
        let stream = server.connect();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Redis { stream, reader }
    }

    fn cmd(&mut self, line: &str) -> Reply {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.cmd_bytes(&args)
    }

    fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.stream.write_all(&resp_command(args)).unwrap();
        read_reply(&mut self.reader)
    }

    /// Sends raw bytes (inline commands, malformed input).
    fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn reply(&mut self) -> Reply {
        read_reply(&mut self.reader)
    }
}

#[test]
fn redis_commands_reply_correctly() {
    let server = Server::start("mini_redis", &[]);
    let mut c = Redis::connect(&server);
    assert_eq!(c.cmd("PING"), Reply::Simple("PONG".into()));
    assert_eq!(c.cmd("PING hello"), bulk("hello"));
    assert_eq!(c.cmd("ECHO hi"), bulk("hi"));
    assert_eq!(c.cmd("GET k"), Reply::Bulk(None));
    assert_eq!(c.cmd("SET k v1"), ok());
    assert_eq!(c.cmd("GET k"), bulk("v1"));
    assert_eq!(c.cmd("set k v2"), ok(), "names are case-insensitive");
    assert_eq!(c.cmd("GET k"), bulk("v2"));
    assert_eq!(c.cmd("SET k v3 NX"), Reply::Bulk(None));
    assert_eq!(c.cmd("SET other v XX"), Reply::Bulk(None));
    assert_eq!(c.cmd("SET k2 v"), ok());
    assert_eq!(c.cmd("EXISTS k k2 nope k"), Reply::Int(3));
    assert_eq!(c.cmd("DEL k nope k2"), Reply::Int(2));
    assert_eq!(c.cmd("EXISTS k"), Reply::Int(0));
    assert_eq!(c.cmd("INCR n"), Reply::Int(1));
    assert_eq!(c.cmd("INCR n"), Reply::Int(2));
    assert_eq!(c.cmd("GET n"), bulk("2"));
    assert_eq!(c.cmd("SET s abc"), ok());
    assert_eq!(
        c.cmd("INCR s"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd("SET big 9223372036854775807"), ok());
    assert_eq!(
        c.cmd("INCR big"),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(c.cmd("COMMAND DOCS"), Reply::Array(Some(vec![])));
    assert_eq!(
        c.cmd("CONFIG GET appendonly"),
        Reply::Array(Some(vec![bulk("appendonly"), bulk("no")]))
    );
    assert_eq!(c.cmd("CONFIG GET nosuch"), Reply::Array(Some(vec![])));
    // Binary-safe keys and values, including an empty value.
    assert_eq!(c.cmd_bytes(&[b"SET", b"\x00\r\n", b""]), ok());
    assert_eq!(
        c.cmd_bytes(&[b"GET", b"\x00\r\n"]),
        Reply::Bulk(Some(vec![]))
    );
    // A value larger than any read buffer.
    let large = pattern(7, 3 << 20);
    assert_eq!(c.cmd_bytes(&[b"SET", b"large", &large]), ok());
    assert_eq!(c.cmd("GET large"), Reply::Bulk(Some(large)));
    assert_eq!(c.cmd("QUIT"), ok());
    assert!(read_to_eof(&mut c.reader).is_empty(), "closed after QUIT");
}

#[test]
fn redis_keys_expire() {
    let server = Server::start("mini_redis", &[]);
    let mut c = Redis::connect(&server);
    for (line, ttl) in [
        ("SET a v EX 1", Duration::from_secs(1)),
        ("SET b v PX 150", Duration::from_millis(150)),
    ] {
        let key = &line[4..5];
        let set_at = Instant::now();
        assert_eq!(c.cmd(line), ok());
        assert_eq!(c.cmd("SET forever v"), ok());
        let deadline = set_at + ttl + TIMEOUT;
        loop {
            let got = c.cmd(&format!("GET {key}"));
            if got == Reply::Bulk(None) {
                assert!(set_at.elapsed() >= ttl, "{key} expired early");
                break;
            }
            assert_eq!(got, bulk("v"));
            assert!(Instant::now() < deadline, "{key} never expired");
            // Paces the poll; correctness does not depend on it.
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(c.cmd(&format!("EXISTS {key}")), Reply::Int(0));
        assert_eq!(c.cmd("GET forever"), bulk("v"));
    }
}

#[test]
fn redis_answers_pipelined_commands() {
    const N: usize = 10_000;
    let server = Server::start("mini_redis", &[]);
    let mut c = Redis::connect(&server);
    let mut writer = c.stream.try_clone().unwrap();
    // Written from another thread: the replies flow back while we are still sending.
    let w = thread::spawn(move || {
        let mut batch = Vec::new();
        for i in 0..N {
            let v = i.to_string();
            batch.extend(resp_command(&[
                b"SET",
                format!("key:{i}").as_bytes(),
                v.as_bytes(),
            ]));
            batch.extend(resp_command(&[b"GET", format!("key:{i}").as_bytes()]));
            batch.extend_from_slice(b"INCR counter\r\nPING\r\n"); // inline
        }
        writer.write_all(&batch).unwrap();
    });
    for i in 0..N {
        assert_eq!(c.reply(), ok(), "SET #{i}");
        assert_eq!(c.reply(), bulk(&i.to_string()), "GET #{i}");
        assert_eq!(c.reply(), Reply::Int(i as i64 + 1), "INCR #{i}");
        assert_eq!(c.reply(), Reply::Simple("PONG".into()), "PING #{i}");
    }
    w.join().unwrap();
}

#[test]
fn redis_command_errors_keep_the_connection() {
    let server = Server::start("mini_redis", &[]);
    let mut c = Redis::connect(&server);
    assert_eq!(c.cmd("FOO bar"), err("ERR unknown command 'FOO'"));
    assert_eq!(c.cmd("PING"), Reply::Simple("PONG".into()));
    assert_eq!(
        c.cmd_bytes(&[b"GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        c.cmd("SET k v EX notanumber"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd("SET k v EX 0"),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(c.cmd("SET k v BOGUS"), err("ERR syntax error"));
    assert_eq!(c.cmd("SET k v"), ok());
    // Inline commands with quoting, as typed into telnet; empty lines are skipped.
    c.raw(b"\r\nSET q \"a b\\r\\n\"\r\nGET q\r\nnope\r\n");
    assert_eq!(c.reply(), ok());
    assert_eq!(c.reply(), bulk("a b\r\n"));
    assert_eq!(c.reply(), err("ERR unknown command 'nope'"));
    assert_eq!(c.cmd("GET k"), bulk("v"));
}

#[test]
fn redis_closes_after_a_protocol_error() {
    let server = Server::start("mini_redis", &[]);
    for (wire, want) in [
        (
            &b"*1\r\n$abc\r\n"[..],
            "ERR Protocol error: invalid bulk length",
        ),
        (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*2\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"),
        (
            b"*1\r\n$1\r\nabc\r\n",
            "ERR Protocol error: expected CRLF after bulk data",
        ),
        (
            b"SET \"open\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ] {
        let mut c = Redis::connect(&server);
        assert_eq!(c.cmd("PING"), Reply::Simple("PONG".into()));
        c.raw(wire);
        assert_eq!(c.reply(), err(want));
        assert!(read_to_eof(&mut c.reader).is_empty(), "closed after {want}");
    }
    // A bulk length beyond 512 MiB is refused at once, before any data arrives.
    let mut c = Redis::connect(&server);
    c.raw(b"*1\r\n$536870913\r\n");
    assert_eq!(c.reply(), err("ERR Protocol error: invalid bulk length"));
    // The server is fine.
    let mut c = Redis::connect(&server);
    assert_eq!(c.cmd("PING"), Reply::Simple("PONG".into()));
}

#[test]
fn redis_serves_concurrent_clients_on_shared_keys() {
    let server = Server::start("mini_redis", &["--procs", "2"]);
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let mut c = Redis::connect(&server);
            thread::spawn(move || {
                for _ in 0..200 {
                    assert!(matches!(c.cmd("INCR shared"), Reply::Int(_)));
                }
            })
        })
        .collect();
    join_all(clients);
    let mut c = Redis::connect(&server);
    assert_eq!(c.cmd("GET shared"), bulk("3200"), "no lost increments");
}

/// Runs `redis-cli` with `args` (and `stdin`) and returns its output; `None` if it is
/// not installed.
fn redis_cli(port: u16, args: &[&str], stdin: &[u8]) -> Option<String> {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args);
    let out = match run_bounded(&mut cmd, stdin, TIMEOUT) {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => return None,
        Err(e) => panic!("running redis-cli: {e}"),
    };
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("UTF-8 output"))
}

#[test]
fn redis_cli_talks_to_mini_redis() {
    let server = Server::start("mini_redis", &[]);
    let port = server.addr.port();
    let Some(pong) = redis_cli(port, &["PING"], b"") else {
        eprintln!("note: redis-cli is not on PATH; skipping the redis-cli check");
        return;
    };
    assert_eq!(pong, "PONG\n");
    let one = |args: &[&str]| redis_cli(port, args, b"").unwrap();
    assert_eq!(one(&["SET", "greeting", "hello world"]), "OK\n");
    assert_eq!(one(&["GET", "greeting"]), "hello world\n");
    assert_eq!(one(&["INCR", "hits"]), "1\n");
    assert_eq!(one(&["INCR", "hits"]), "2\n");
    assert_eq!(one(&["DEL", "greeting", "hits", "nope"]), "2\n");
    assert_eq!(
        one(&["GET", "greeting"]),
        "\n",
        "a nil reply prints as an empty line"
    );
    // Commands read from standard input, one per line, over one connection.
    let script = b"SET a 1\nINCR a\nGET a\nFOO\nPING\n";
    let out = redis_cli(port, &[], script).unwrap();
    // redis-cli's raw output ends an error with an extra empty line.
    assert_eq!(out, "OK\n2\n2\nERR unknown command 'FOO'\n\nPONG\n");
}

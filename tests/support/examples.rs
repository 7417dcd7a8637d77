//! What the tests that drive the example binaries share: building the examples for the
//! test's own profile, bounded runs of a command, starting a server example on
//! `127.0.0.1:0` and reading its `listening on ADDR` line, killing children when done,
//! and client sockets whose every read and write has a timeout.
//!
//! A test includes it with `#[path = "support/examples.rs"] mod examples;` and declares
//! `const EXAMPLES: &[&str]`, the examples it runs: one cargo call builds them all the
//! first time one is needed.

// Each test uses a subset of these.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Bound on any single socket read or write, and on a server's start.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on building the examples (a cold build of the crate included).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

// ---------------------------------------------------------------- child processes

/// Kills and reaps the child when dropped, so no test path leaves a process running.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` to completion with `stdin` as its input and its output captured; kills it
/// and fails the test if it takes longer than `timeout`.
pub fn run_bounded(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> io::Result<Output> {
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut child = ChildGuard(child);
    // Dropping our end right after is the child's end of input.
    child.0.stdin.take().expect("piped").write_all(stdin)?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.0.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.0.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{cmd:?} did not finish within {timeout:?}"
        );
        // Paces the poll of a process we cannot wait on with a timeout.
        thread::sleep(Duration::from_millis(10));
    };
    Ok(Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    })
}

// ---------------------------------------------------------------- building

/// `target/<profile>/examples`, with the including test's `EXAMPLES` built (once per
/// test process) by the profile this test was built with. Building here, rather than
/// trusting what `cargo test` left there, means a run of only this test (`--test NAME`,
/// which does not build examples) never drives a stale binary. Cargo has released its
/// build lock by the time tests run; when the examples are fresh this is a no-op.
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
            .arg("build")
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
        for name in super::EXAMPLES.iter() {
            cargo.args(["--example", name]);
        }
        let out = run_bounded(&mut cargo, b"", BUILD_TIMEOUT).expect("running cargo");
        assert!(
            out.status.success(),
            "building the examples {:?} failed:\n{}",
            super::EXAMPLES,
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("examples")
    })
}

/// The path of example `name` (one of `EXAMPLES`), built.
pub fn example(name: &str) -> PathBuf {
    assert!(
        super::EXAMPLES.contains(&name),
        "{name} is not in this test's EXAMPLES"
    );
    let path = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

// ---------------------------------------------------------------- servers

/// A running example server; killed when dropped.
pub struct Server {
    pub child: ChildGuard,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts example `name` with `--addr 127.0.0.1:0` and `extra_args`, and waits
    /// (`TIMEOUT` at most) for the address on its first stdout line.
    pub fn start(name: &str, extra_args: &[&str]) -> Server {
        let child = Command::new(example(name))
            .args(["--addr", "127.0.0.1:0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The servers log dropped connections there; the test output keeps it.
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let mut child = ChildGuard(child);
        let stdout = child.0.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining, so the server can never block on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(other) => panic!(
                "{name} ended before announcing its address ({other:?}); exit: {:?}",
                child.0.try_wait()
            ),
            Err(_) => panic!("{name} did not print its address within {TIMEOUT:?}"),
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        Server { child, addr }
    }

    /// A new connection, with `TIMEOUT` on every read and write, and `TCP_NODELAY`.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr, TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.addr));
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.set_write_timeout(Some(TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Fails the test if the server died (a crash would otherwise show up only as
    /// confusing socket errors).
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.0.try_wait() {
            panic!("server exited: {status}");
        }
    }
}

// ---------------------------------------------------------------- client side

/// Reads until the server closes, bounded by the socket's read timeout; panics on a
/// timeout.
pub fn read_to_eof(s: &mut impl Read) -> Vec<u8> {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => rest,
        // A reset after the server's lingering close also means "closed".
        Err(e) if e.kind() == ErrorKind::ConnectionReset => rest,
        Err(e) => panic!(
            "waiting for the server to close: {e} (got {} bytes: {:?})",
            rest.len(),
            String::from_utf8_lossy(&rest[..rest.len().min(200)])
        ),
    }
}

/// Deterministic test bytes (xorshift), different per `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
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

/// The header lines of an HTTP head (read after its status line) up to the blank line
/// that ends it, without their line ends.
pub fn read_header_lines(r: &mut impl BufRead) -> Vec<String> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            return headers;
        }
        headers.push(l.to_string());
    }
}

/// A command in RESP, as `mini_redis` reads it: an array of bulk strings.
pub fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

//! `gort::net` at the file-descriptor limits: ten thousand connections open at once, and
//! a listener that survives `EMFILE`. Both run in child processes (re-running one test
//! of this binary) because they change the process's descriptor limit.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::net::{TcpListener, TcpStream};
use gort::Runtime;

const CONNS: usize = 10_000;

fn child(test: &str, envs: &[(&str, String)]) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", test);
    for (k, v) in envs {
        c.env(k, v);
    }
    c
}

fn child_role() -> Option<String> {
    std::env::var("GORT_TEST_CHILD").ok()
}

/// Raises the soft descriptor limit to the hard one; returns the new soft limit.
fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one rlimit struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = r.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
    r.rlim_cur
}

fn set_soft_nofile(n: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as in `raise_nofile`.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = n;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
}

#[test]
fn ten_thousand_connections_held_open_at_once_are_all_answered() {
    if child_role().as_deref()
        == Some("ten_thousand_connections_held_open_at_once_are_all_answered")
    {
        return client_10k();
    }
    let limit = raise_nofile();
    if limit < CONNS as u64 + 200 {
        eprintln!("skipped: the hard descriptor limit {limit} is below {CONNS}");
        return;
    }
    let rt = Runtime::builder().procs(2).build().unwrap();
    let (peak, answered) = rt.block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let (l2, p2, a2) = (live.clone(), peak.clone(), answered.clone());
        gort::spawn(move || {
            for s in l.incoming() {
                let mut s = match s {
                    Ok(s) => s,
                    Err(e) => panic!("accept: {e}"),
                };
                let (live, peak, answered) = (l2.clone(), p2.clone(), a2.clone());
                gort::spawn(move || {
                    let now = live.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    let mut b = [0u8; 8];
                    while let Ok(()) = s.read_exact(&mut b) {
                        s.write_all(&b).unwrap();
                        answered.fetch_add(1, SeqCst);
                    }
                    live.fetch_sub(1, SeqCst);
                });
            }
        });
        let out = gort::blocking(|| {
            child(
                "ten_thousand_connections_held_open_at_once_are_all_answered",
                &[("GORT_TEST_ADDR", addr.to_string())],
            )
            .stderr(Stdio::inherit())
            .output()
            .unwrap()
        });
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "client failed:\n{stdout}");
        assert!(stdout.contains(&format!("answered {CONNS}")), "{stdout}");
        (peak.load(SeqCst), answered.load(SeqCst))
    });
    assert_eq!(peak, CONNS, "all connections were open at once");
    assert_eq!(answered, CONNS);
}

/// The child: opens CONNS connections from goroutines, waits until all are open, then
/// each sends one message and checks the echo, then all wait again before closing.
fn client_10k() {
    raise_nofile();
    let addr: std::net::SocketAddr = std::env::var("GORT_TEST_ADDR").unwrap().parse().unwrap();
    // Default stacks: a debug build's connect path needs more than 64 KiB.
    let rt = Runtime::builder().procs(2).build().unwrap();
    let answered = rt.block_on(move || {
        let opened = Arc::new(gort::sync::Barrier::new(CONNS));
        let closing = Arc::new(gort::sync::Barrier::new(CONNS));
        let hs: Vec<_> = (0..CONNS)
            .map(|i| {
                let (opened, closing) = (opened.clone(), closing.clone());
                gort::spawn(move || {
                    let mut c = connect_retrying(addr);
                    opened.wait();
                    let msg = (i as u64).to_le_bytes();
                    c.write_all(&msg).unwrap();
                    let mut b = [0u8; 8];
                    c.read_exact(&mut b).unwrap();
                    closing.wait();
                    b == msg
                })
            })
            .collect();
        hs.into_iter()
            .filter(|_| true)
            .map(|h| h.join().unwrap())
            .filter(|&ok| ok)
            .count()
    });
    println!("answered {answered}");
}

/// A connect burst can overflow the SYN queue; retry refused/reset attempts briefly.
fn connect_retrying(addr: std::net::SocketAddr) -> TcpStream {
    let t = Instant::now();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
            Ok(c) => return c,
            Err(e) if t.elapsed() < Duration::from_secs(30) => {
                eprintln!("connect retry: {e}");
                gort::time::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
}

#[test]
fn accept_returns_emfile_and_the_listener_recovers() {
    if child_role().as_deref() == Some("accept_returns_emfile_and_the_listener_recovers") {
        return emfile_child();
    }
    let out = child("accept_returns_emfile_and_the_listener_recovers", &[])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("emfile seen"), "{stdout}");
    assert!(stdout.contains("recovered 3"), "{stdout}");
}

fn emfile_child() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Three clients wait in the backlog.
        let clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // Fill the descriptor table.
        set_soft_nofile(256);
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let mut hog: Vec<OwnedFd> = Vec::new();
        loop {
            match devnull.try_clone() {
                Ok(f) => hog.push(f.into()),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
                    break;
                }
            }
        }
        let err = l.accept().unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)),
            "{err:?}"
        );
        println!("emfile seen: {err}");
        // Free descriptors: every queued client is accepted and answered.
        hog.truncate(hog.len().saturating_sub(16));
        let mut n = 0;
        for mut c in clients {
            let (mut s, _) = l.accept().unwrap();
            c.write_all(b"hi").unwrap();
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"hi");
            assert!(s.as_raw_fd() > 0);
            n += 1;
        }
        println!("recovered {n}");
        drop(hog);
        io::stdout().flush().unwrap();
    });
}

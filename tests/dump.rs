//! Goroutine dumps: wait sites, time waited, grouping, speed, and SIGQUIT.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use gort::chan::{self, Receiver};
use gort::net::{TcpListener, TcpStream};
use gort::sync::{Barrier, Condvar, Mutex, Once, RwLock, Semaphore, WaitGroup};
use gort::{ConfigError, GoroutineBuilder, Runtime};

/// How long any wait in these tests may take before it counts as a failure.
const BOUND: Duration = Duration::from_secs(60);

/// The dump's entries (separated by blank lines).
fn entries(dump: &str) -> Vec<&str> {
    dump.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect()
}

/// The entry whose header line contains `header`.
fn entry<'a>(dump: &'a str, header: &str) -> Option<&'a str> {
    entries(dump)
        .into_iter()
        .find(|e| e.lines().next().is_some_and(|l| l.contains(header)))
}

/// Calls `gort::dump()` until `ok` holds for it, yielding in between; panics with the
/// last dump after [`BOUND`].
fn dump_until(what: &str, ok: impl Fn(&str) -> bool) -> String {
    let t = Instant::now();
    loop {
        let d = gort::dump();
        if ok(&d) {
            return d;
        }
        assert!(t.elapsed() < BOUND, "timed out waiting for {what}:\n{d}");
        gort::yield_now();
    }
}

/// Parses a waiting time as the dump writes it (`12 µs`, `3 ms`, `4.5 s`, `2 min`).
fn parse_wait(s: &str) -> Duration {
    let (n, unit) = s.trim().split_once(' ').expect("number and unit");
    let n: f64 = n.parse().expect("a number");
    let ns = match unit {
        "µs" => n * 1e3,
        "ms" => n * 1e6,
        "s" => n * 1e9,
        "min" => n * 60e9,
        u => panic!("unknown unit {u:?}"),
    };
    Duration::from_nanos(ns as u64)
}

/// The time waited in an entry's header (`[reason, <time>]` or `[reason, <a> to <b>]`:
/// the longest).
fn waited(entry: &str) -> Duration {
    let header = entry.lines().next().unwrap();
    let inside = &header[header.rfind('[').unwrap() + 1..header.rfind(']').unwrap()];
    let (_, time) = inside.split_once(", ").expect("a waiting time");
    parse_wait(time.rsplit(" to ").next().unwrap())
}

/// What the goroutines of [`wait_sites_name_the_blocking_call_in_user_code`] block on.
struct Blockers {
    rx: Receiver<()>,
    join_rx: Receiver<()>,
    once_rx: Receiver<()>,
    mutex: Arc<Mutex<()>>,
    rw: Arc<RwLock<()>>,
    server: TcpStream,
    wg: WaitGroup,
    sem: Arc<Semaphore>,
    barrier: Arc<Barrier>,
    cv: Arc<(Mutex<bool>, Condvar)>,
    once: Arc<Once>,
}

fn ignore<T>(_: T) {}

/// Spawns one goroutine per blocking call, each named after it; returns (name, wait
/// reason, line of the call). Unformatted so that each call stays on its `line!()`.
#[rustfmt::skip]
fn block_on_everything(b: Blockers) -> Vec<(&'static str, &'static str, u32)> {
    let go = |name: &str, f: Box<dyn FnOnce() + Send>| drop(GoroutineBuilder::new().name(name).spawn(f).unwrap());
    let Blockers { rx, join_rx, once_rx, mutex, rw, mut server, wg, sem, barrier, cv, once } = b;
    let (rx1, rx2, rx3, once2) = (rx.clone(), rx.clone(), rx, once.clone());
    let inner = gort::spawn(move || ignore(join_rx.recv()));
    go("once runner", Box::new(move || once2.call_once(|| ignore(once_rx.recv()))));
    // The runner must be inside the initialiser before the other caller comes.
    dump_until("the once runner to park", |d| entry(d, "\"once runner\" [chan receive, ").is_some());
    let mut e = Vec::new();
    e.push(("recv", "chan receive", line!())); go("recv", Box::new(move || ignore(rx1.recv())));
    e.push(("lock", "sync.Mutex.Lock", line!())); go("lock", Box::new(move || ignore(mutex.lock())));
    e.push(("read lock", "sync.RWMutex.RLock", line!())); go("read lock", Box::new(move || ignore(rw.read())));
    e.push(("sleep", "sleep", line!())); go("sleep", Box::new(|| gort::time::sleep(Duration::from_secs(3600))));
    e.push(("join", "join", line!())); go("join", Box::new(move || ignore(inner.join())));
    e.push(("socket read", "IO wait (read)", line!())); go("socket read", Box::new(move || ignore(server.read(&mut [0u8; 1]))));
    e.push(("select", "select", line!())); go("select", Box::new(move || gort::select! { recv(rx2) -> _v => {} }));
    e.push(("wait group", "sync.WaitGroup.Wait", line!())); go("wait group", Box::new(move || wg.wait()));
    e.push(("semaphore", "semacquire", line!())); go("semaphore", Box::new(move || ignore(sem.acquire())));
    e.push(("barrier", "sync.Barrier.Wait", line!())); go("barrier", Box::new(move || ignore(barrier.wait())));
    e.push(("condvar", "sync.Cond.Wait", line!())); go("condvar", Box::new(move || ignore(cv.1.wait(cv.0.lock()))));
    e.push(("once", "sync.Once.Do", line!())); go("once", Box::new(move || once.call_once(|| ())));
    e.push(("scope", "scope", line!())); go("scope", Box::new(move || gort::scope(|s| ignore(s.spawn(|| rx3.recv())))));
    e.push(("park", "park", line!())); go("park", Box::new(|| loop { gort::park() }));
    e
}

#[test]
fn wait_sites_name_the_blocking_call_in_user_code() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let (tx, rx) = chan::bounded::<()>(0);
        let (join_tx, join_rx) = chan::bounded::<()>(0);
        let (once_tx, once_rx) = chan::bounded::<()>(0);
        let mutex = Arc::new(Mutex::new(()));
        let guard = mutex.lock();
        let rw = Arc::new(RwLock::new(()));
        let write_guard = rw.write();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let wg = WaitGroup::new();
        wg.add(1);
        let sem = Arc::new(Semaphore::new(0));
        let barrier = Arc::new(Barrier::new(2));
        let cv = Arc::new((Mutex::new(false), Condvar::new()));
        let expect = block_on_everything(Blockers {
            rx,
            join_rx,
            once_rx,
            mutex: mutex.clone(),
            rw: rw.clone(),
            server,
            wg: wg.clone(),
            sem: sem.clone(),
            barrier: barrier.clone(),
            cv: cv.clone(),
            once: Arc::new(Once::new()),
        });
        let header = |name: &str, reason: &str| format!("{name:?} [{reason}, ");
        let d = dump_until("every goroutine to park", |d| {
            expect
                .iter()
                .all(|(name, reason, _)| entry(d, &header(name, reason)).is_some())
        });
        for (name, reason, line) in &expect {
            let e = entry(&d, &header(name, reason)).unwrap();
            let site = format!("\n    {reason} at tests/dump.rs:{line}:");
            assert!(
                e.contains(&site),
                "{name}: want {site:?} in\n{e}\n\nfull dump:\n{d}"
            );
            assert!(e.contains("\n    spawned at tests/dump.rs:"), "{e}");
        }
        // The caller is running and shows no wait site.
        let me = entry(&d, "\"main\" [running]:").unwrap_or_else(|| panic!("{d}"));
        assert_eq!(me.lines().count(), 2, "{me}");

        // Let everything go but the sleeper and the parker (dropped with the runtime).
        drop((guard, write_guard, client));
        drop((tx, join_tx, once_tx));
        wg.done();
        sem.release();
        barrier.wait();
        *cv.0.lock() = true;
        cv.1.notify_all();
    });
}

#[test]
fn time_waited_grows_while_parked() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let (tx, rx) = chan::bounded::<()>(0);
        let h = GoroutineBuilder::new()
            .name("waiter")
            .spawn(move || rx.recv())
            .unwrap();
        let header = "\"waiter\" [chan receive, ";
        let d1 = dump_until("the waiter to park", |d| entry(d, header).is_some());
        let w1 = waited(entry(&d1, header).unwrap());
        // Time has to pass for this test, which a sleep does; nothing waits for it.
        gort::time::sleep(Duration::from_millis(60));
        let d2 = gort::dump();
        let w2 = waited(entry(&d2, header).unwrap_or_else(|| panic!("{d2}")));
        assert!(w2 >= Duration::from_millis(60), "{w1:?} then {w2:?}\n{d2}");
        assert!(w2 >= w1 + Duration::from_millis(50), "{w1:?} then {w2:?}");
        tx.send(()).unwrap();
        h.join().unwrap().unwrap();
    });
}

/// Spawns `n` goroutines (one spawn site) that each park receiving from `rx` (one wait
/// site), and waits until all of them have parked; returns their handles and the two
/// lines.
fn park_many(n: usize, rx: &Receiver<()>) -> (Vec<gort::JoinHandle<()>>, u32, u32) {
    let started = Arc::new(AtomicUsize::new(0));
    let mut hs = Vec::with_capacity(n);
    let spawn_line = line!() + 5;
    let recv_line = line!() + 6;
    for _ in 0..n {
        let rx = rx.clone();
        let started = started.clone();
        hs.push(gort::spawn(move || {
            started.fetch_add(1, Relaxed);
            let _ = rx.recv();
        }));
    }
    let t = Instant::now();
    while started.load(Relaxed) < n {
        assert!(t.elapsed() < BOUND, "goroutines did not start");
        gort::yield_now();
    }
    (hs, spawn_line, recv_line)
}

#[test]
fn identical_goroutines_are_one_entry() {
    const N: usize = 100_000;
    let rt = Runtime::builder()
        .procs(2)
        .stack_size(64 * 1024)
        .build()
        .unwrap();
    rt.block_on(|| {
        let (tx, rx) = chan::bounded::<()>(0);
        let (hs, spawn_line, recv_line) = park_many(N, &rx);
        let header = format!("{N} goroutines [chan receive, ");
        let d = dump_until("all of them in one entry", |d| entry(d, &header).is_some());
        let e = entry(&d, &header).unwrap();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(
            lines[1].starts_with(&format!("    chan receive at tests/dump.rs:{recv_line}:")),
            "{e}"
        );
        assert!(
            lines[2].starts_with(&format!("    spawned at tests/dump.rs:{spawn_line}:")),
            "{e}"
        );
        assert!(lines[3].starts_with("    ids "), "{e}");
        assert!(lines[3].ends_with(&format!(" and {} more", N - 8)), "{e}");
        // The ids shown are the lowest: increasing, and the first is the smallest of all.
        let ids: Vec<u64> = lines[3]["    ids ".len()..]
            .split(" and ")
            .next()
            .unwrap()
            .split(", ")
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(ids.len(), 8, "{e}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{e}");
        let lowest = hs.iter().map(|h| h.id()).min().unwrap();
        assert_eq!(ids[0], lowest, "{e}");
        // The most numerous entry comes first; only this goroutine besides.
        assert!(d.starts_with(&header), "{d}");
        assert_eq!(entries(&d).len(), 2, "{d}");
        drop(tx);
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn goroutines_that_differ_are_separate_entries() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let (tx, rx) = chan::bounded::<()>(0);
        let started = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        // One spawn site; names and wait sites vary.
        let first_recv = line!() + 8;
        let second_recv = first_recv + 2;
        for (name, second, n) in [("a", false, 3), ("b", false, 2), ("a", true, 4)] {
            for _ in 0..n {
                let (rx, started) = (rx.clone(), started.clone());
                hs.push(GoroutineBuilder::new().name(name).spawn(move || {
                    started.fetch_add(1, Relaxed);
                    if !second {
                        let _ = rx.recv();
                    } else {
                        let _ = rx.recv_timeout(Duration::from_secs(3600));
                    }
                }));
            }
        }
        // Same wait site as "a"'s first group, but another spawn site.
        let rx2 = rx.clone();
        let other = GoroutineBuilder::new()
            .name("a")
            .spawn(move || rx2.recv())
            .unwrap();
        let sleeper = GoroutineBuilder::new()
            .name("a")
            .spawn(|| gort::time::sleep(Duration::from_secs(3600)))
            .unwrap();
        let other_parked = format!("goroutine {} \"a\" [chan receive, ", other.id());
        let d = dump_until("the nine goroutines and the other two to park", |d| {
            started.load(Relaxed) == 9
                && entry(d, &other_parked).is_some()
                && entry(d, "4 goroutines \"a\" [chan receive, ").is_some()
                && entry(d, "3 goroutines \"a\" [chan receive, ").is_some()
                && entry(d, "2 goroutines \"b\" [chan receive, ").is_some()
                && entry(d, "\"a\" [sleep, ").is_some()
                && entries(d).len() == 6
        });
        let a4 = entry(&d, "4 goroutines \"a\"").unwrap();
        let a3 = entry(&d, "3 goroutines \"a\"").unwrap();
        let b2 = entry(&d, "2 goroutines \"b\"").unwrap();
        let at = |l: u32| format!("    chan receive at tests/dump.rs:{l}:");
        assert!(a3.contains(&at(first_recv)), "{a3}");
        assert!(b2.contains(&at(first_recv)), "{b2}");
        assert!(a4.contains(&at(second_recv)), "{a4}");
        let single = entry(
            &d,
            &format!("goroutine {} \"a\" [chan receive, ", other.id()),
        )
        .unwrap_or_else(|| panic!("{d}"));
        assert!(
            single.contains("    chan receive at tests/dump.rs:"),
            "{single}"
        );
        assert!(!single.contains("    ids "), "{single}");
        let sleeping = entry(&d, &format!("goroutine {} \"a\" [sleep, ", sleeper.id()));
        assert!(sleeping.is_some(), "{d}");
        // Most numerous first.
        let order: Vec<usize> = [a4, a3, b2].iter().map(|e| d.find(e).unwrap()).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{d}");
        drop(tx);
        for h in hs {
            h.unwrap().join().unwrap();
        }
        other.join().unwrap().unwrap_err();
    });
}

/// A million parked goroutines (release builds only: memory and time).
#[test]
#[cfg(not(debug_assertions))]
fn a_million_parked_goroutines_dump_in_under_two_seconds() {
    const N: usize = 1_000_000;
    let rt = Runtime::builder()
        .procs(2)
        .stack_size(64 * 1024)
        .build()
        .unwrap();
    rt.block_on(|| {
        let (tx, rx) = chan::bounded::<()>(0);
        let (hs, _, recv_line) = park_many(N, &rx);
        let header = format!("{N} goroutines [chan receive, ");
        // Once every one is parked, time one dump.
        dump_until("all of them to park", |d| entry(d, &header).is_some());
        let t = Instant::now();
        let d = gort::dump();
        let took = t.elapsed();
        println!(
            "dump of {N} parked goroutines: {took:?} ({} bytes)",
            d.len()
        );
        let e = entry(&d, &header).unwrap_or_else(|| panic!("{d}"));
        assert!(e.contains(&format!("    chan receive at tests/dump.rs:{recv_line}:")));
        assert!(took < Duration::from_secs(2), "the dump took {took:?}");
        drop(tx);
        for h in hs {
            h.join().unwrap();
        }
    });
}

// ----- SIGQUIT (child processes) ---------------------------------------------------------

/// Set in the child processes these tests start: which child body to run.
const CHILD: &str = "GORT_DUMP_TEST_CHILD";
/// What the child prints when its goroutine is parked (libtest may have printed the
/// test's name on the same line).
const READY: &str = "dump-child: ready";
/// What the child prints once its runtime is gone.
const DROPPED: &str = "dump-child: runtime dropped";

/// Runs the test `name` of this binary in a child process with `env`, its stdio piped.
fn child(name: &str, mode: &str, env: &[(&str, &str)]) -> std::process::Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(CHILD, mode)
        .env_remove("GORT_SIGQUIT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// Lines of a child's pipe, forwarded by a thread.
fn lines(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    rx
}

/// Reads lines until one satisfies `ok`; all lines read so far, or a panic after
/// [`BOUND`].
fn read_until(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, ok: impl Fn(&str) -> bool) {
    let end = Instant::now() + BOUND;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = ok(&l);
                seen.push(l);
                if done {
                    return;
                }
            }
            Err(e) => panic!(
                "{e:?} before the expected line; so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// Waits for the child to exit, killing it after [`BOUND`].
fn wait_exit(c: &mut std::process::Child) -> std::process::ExitStatus {
    let end = Instant::now() + BOUND;
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > end {
            let _ = c.kill();
            panic!("the child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Child side: a runtime with SIGQUIT dumps (from `GORT_SIGQUIT=dump`) and a goroutine
/// parked in `recv`; prints "ready", then waits (bounded) for a line on stdin and exits
/// normally. In mode `dropped` it then drops the runtime, prints "dropped" and waits
/// for the signal that should now end it.
#[test]
fn sigquit_child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return; // only meaningful in the child process
    };
    if mode == "bogus" {
        match Runtime::builder().build() {
            Err(ConfigError::Env { var, value, .. }) => {
                assert_eq!((var, value.as_str()), ("GORT_SIGQUIT", "bogus"));
            }
            other => panic!("GORT_SIGQUIT=bogus accepted: {other:?}"),
        }
        return;
    }
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid value; it affects only this child process.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    // A parent started in the background by a shell without job control passes SIGQUIT
    // on ignored; the test is about its default meaning, so start from that.
    // SAFETY: resetting one signal's disposition in this child process.
    unsafe { libc::signal(libc::SIGQUIT, libc::SIG_DFL) };
    let rt = Runtime::builder().procs(2).build().unwrap();
    assert!(rt.config().sigquit_dump);
    let (tx, rx) = chan::bounded::<()>(0);
    rt.block_on(move || {
        GoroutineBuilder::new()
            .name("sigquit-waiter")
            .spawn(move || rx.recv())
            .unwrap();
        dump_until("the waiter to park", |d| {
            entry(d, "\"sigquit-waiter\" [chan receive, ").is_some()
        });
    });
    println!("{READY}");
    std::io::stdout().flush().unwrap();
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut l = String::new();
        let _ = std::io::stdin().read_line(&mut l);
        let _ = line_tx.send(l);
    });
    let go_on = line_rx.recv_timeout(BOUND).expect("a line from the parent");
    assert_eq!(go_on.trim(), "exit");
    drop(tx);
    drop(rt);
    if mode == "dropped" {
        println!("{DROPPED}");
        std::io::stdout().flush().unwrap();
        // The next SIGQUIT has its default meaning again and ends this process.
        std::thread::sleep(BOUND);
        std::process::exit(3);
    }
}

#[test]
fn sigquit_prints_the_dump_and_the_process_goes_on() {
    let mut c = child("sigquit_child", "dump", &[("GORT_SIGQUIT", "dump")]);
    let out = lines(c.stdout.take().unwrap());
    let err = lines(c.stderr.take().unwrap());
    let (mut seen_out, mut seen_err) = (Vec::new(), Vec::new());
    read_until(&out, &mut seen_out, |l| l.ends_with(READY));
    // SAFETY: kill with a valid pid and signal number.
    assert_eq!(unsafe { libc::kill(c.id() as i32, libc::SIGQUIT) }, 0);
    read_until(&err, &mut seen_err, |l| {
        l == "gort: SIGQUIT: end of goroutine dump"
    });
    // Twice: the first dump did not end anything.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(c.id() as i32, libc::SIGQUIT) }, 0);
    read_until(&err, &mut seen_err, |l| {
        l == "gort: SIGQUIT: end of goroutine dump"
    });
    writeln!(c.stdin.as_mut().unwrap(), "exit").unwrap();
    let status = wait_exit(&mut c);
    let text = seen_err.join("\n");
    assert!(status.success(), "{status:?}\n{text}");
    assert_eq!(
        text.matches("gort: SIGQUIT: goroutine dump of runtime 1 of 1")
            .count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("\"sigquit-waiter\" [chan receive, "),
        "{text}"
    );
    assert!(
        text.contains("    chan receive at tests/dump.rs:"),
        "{text}"
    );
}

#[test]
fn sigquit_has_its_default_meaning_once_the_runtime_is_gone() {
    use std::os::unix::process::ExitStatusExt;
    let mut c = child("sigquit_child", "dropped", &[("GORT_SIGQUIT", "dump")]);
    let out = lines(c.stdout.take().unwrap());
    let err = lines(c.stderr.take().unwrap());
    let mut seen = Vec::new();
    read_until(&out, &mut seen, |l| l.ends_with(READY));
    writeln!(c.stdin.as_mut().unwrap(), "exit").unwrap();
    read_until(&out, &mut seen, |l| l.ends_with(DROPPED));
    // SAFETY: kill with a valid pid and signal number.
    assert_eq!(unsafe { libc::kill(c.id() as i32, libc::SIGQUIT) }, 0);
    let status = wait_exit(&mut c);
    let text: Vec<String> = err.try_iter().collect();
    assert_eq!(status.signal(), Some(libc::SIGQUIT), "{status:?}\n{text:?}");
}

#[test]
fn a_bogus_sigquit_setting_is_a_config_error() {
    let mut c = child("sigquit_child", "bogus", &[("GORT_SIGQUIT", "bogus")]);
    let status = wait_exit(&mut c);
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{status:?}\n{err}");
}

//! Shutdown with goroutines still blocked: `gort::run` returns while goroutines are
//! parked on a channel receive, on socket reads and an accept (127.0.0.1), on an
//! hour-long timer, and while one is inside `gort::blocking`. Checks that the runtime
//! gave back what it took: every descriptor it opened (epoll, eventfd, sockets) is
//! closed and every thread it started has exited once `run` returns. Run it under
//! valgrind to check memory as well (`tests/shutdown_leaks.rs` does):
//!
//! ```text
//! cargo build --release --example shutdown_leaks
//! valgrind --tool=memcheck --leak-check=full target/release/examples/shutdown_leaks
//! ```
//!
//! Prints `shutdown_leaks: ok ...` and exits 0, or panics saying what was left behind.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use gort::net::{TcpListener, TcpStream};

/// How long the call inside `gort::blocking` goes on after the main goroutine has
/// returned: `run` is shutting down by then, and waits for it.
const BLOCKING_AFTER_MAIN: Duration = Duration::from_millis(100);
/// Bound on the goroutines reaching their blocking calls (valgrind is slow).
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Open descriptors and what they point to, without the one this listing opens.
fn open_fds() -> BTreeMap<i32, String> {
    let own = format!("/proc/{}/fd", std::process::id());
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?.display().to_string();
            (target != own).then_some((fd, target))
        })
        .collect()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) {
    // Detached: the runtime drops these goroutines at shutdown.
    drop(
        gort::GoroutineBuilder::new()
            .name(name)
            .spawn(f)
            .expect("spawning inside the runtime"),
    );
}

/// Starts one goroutine per kind of wait and returns once all of them are blocked.
/// Returns the descriptors open at that moment, and the flag the blocking call sets
/// when it ends. The blocking call lasts until `main_alive`'s sender is dropped, then
/// [`BLOCKING_AFTER_MAIN`] more.
fn block_everything(main_alive: mpsc::Receiver<()>) -> (BTreeMap<i32, String>, Arc<AtomicBool>) {
    // Channel receive. The sender lives in the sleeper, so the receiver never sees a
    // disconnect before shutdown.
    let (tx, rx) = gort::chan::bounded::<u8>(0);
    spawn_named("receiver", move || {
        let _ = rx.recv();
    });

    // A long timer.
    spawn_named("sleeper", move || {
        let _keep = tx;
        gort::time::sleep(Duration::from_secs(3600));
    });

    // Socket reads on both ends of a connection nobody writes on, and an accept nobody
    // connects to.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    let client = TcpStream::connect(addr).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    for (name, mut stream) in [("server reader", server), ("client reader", client)] {
        spawn_named(name, move || {
            let mut buf = [0u8; 16];
            let n = stream.read(&mut buf);
            unreachable!("nothing is ever written, yet read returned {n:?}");
        });
    }
    spawn_named("acceptor", move || {
        let r = listener.accept();
        unreachable!("nobody connects a second time, yet accept returned {r:?}");
    });

    // Inside `blocking`: an OS-thread-blocking call still in progress when the main
    // goroutine returns (the runtime waits for it at shutdown).
    let (entered, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (e, d) = (entered.clone(), done.clone());
    spawn_named("blocker", move || {
        gort::blocking(move || {
            e.store(true, SeqCst);
            // Err(Disconnected) once the main goroutine has returned.
            let _ = main_alive.recv();
            std::thread::sleep(BLOCKING_AFTER_MAIN);
            d.store(true, SeqCst);
        });
    });

    // Wait (yielding, bounded) until every goroutine is where it should be: the dump
    // shows the parked ones by name and reason, the netpoller counts the three
    // socket waits, the flag shows the blocking call has started.
    let waits = [
        "\"receiver\" [chan receive",
        "\"sleeper\" [sleep",
        "\"server reader\" [IO wait",
        "\"client reader\" [IO wait",
        "\"acceptor\" [IO wait",
    ];
    let deadline = Instant::now() + SETTLE_LIMIT;
    loop {
        let dump = gort::dump();
        let parked = waits.iter().all(|w| dump.contains(w));
        if parked && gort::metrics().io_waiters == 3 && entered.load(SeqCst) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the goroutines did not all block within {SETTLE_LIMIT:?}:\n{dump}"
        );
        gort::yield_now();
    }
    (open_fds(), done)
}

/// `--stack-policy mprotect|canary`: valgrind does not know `MADV_GUARD_INSTALL` guard
/// pages (the default on Linux ≥ 6.13) and faults when its stack unwinder reads one;
/// it does know `mprotect`ed pages.
fn stack_policy() -> Option<gort::StackPolicy> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => None,
        ["--stack-policy", "mprotect"] => Some(gort::StackPolicy::Mprotect),
        ["--stack-policy", "canary"] => Some(gort::StackPolicy::Canary),
        _ => {
            eprintln!("usage: shutdown_leaks [--stack-policy mprotect|canary]");
            std::process::exit(2);
        }
    }
}

fn main() {
    let fds_before = open_fds();
    let threads_before = threads();

    let (alive, main_alive) = mpsc::channel::<()>();
    let main = move || {
        // Dropped when this returns, which lets the blocking call go on to its end.
        let _alive = alive;
        block_everything(main_alive)
    };
    let (fds_during, blocking_done) = match stack_policy() {
        None => gort::run(main),
        // What `run` does (build, block_on, drop), with another stack guard.
        Some(policy) => gort::Runtime::builder()
            .stack_policy(policy)
            .build()
            .expect("a runtime")
            .block_on(main),
    };

    assert!(
        blocking_done.load(SeqCst),
        "run returned before the blocking call in progress at shutdown had ended"
    );
    // Descriptors were opened (epoll, eventfd, the listener and both ends of the
    // connection), so the comparison below has something to find.
    let opened: Vec<_> = fds_during
        .iter()
        .filter(|(fd, target)| fds_before.get(fd) != Some(target))
        .collect();
    let sockets = opened
        .iter()
        .filter(|(_, t)| t.starts_with("socket:"))
        .count();
    assert!(
        sockets == 3 && opened.iter().any(|(_, t)| t.contains("eventpoll")),
        "expected the runtime's epoll and the 3 sockets among {fds_during:?}"
    );
    let fds_after = open_fds();
    assert_eq!(
        fds_after, fds_before,
        "descriptors left open after run returned (during the run: {fds_during:?})"
    );
    let threads_after = threads();
    assert_eq!(
        threads_after, threads_before,
        "threads still running after run returned"
    );
    println!(
        "shutdown_leaks: ok: {} descriptors opened during the run ({}), all closed after; \
         {} thread(s) before and after",
        opened.len(),
        opened
            .iter()
            .map(|(fd, t)| format!("{fd} -> {t}"))
            .collect::<Vec<_>>()
            .join(", "),
        threads_after
    );
}

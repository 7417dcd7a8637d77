//! Running out of things: address space for stacks (`RLIMIT_AS`), the cap on live
//! goroutines (`max_goroutines`), file descriptors (`RLIMIT_NOFILE`). Each ends in an
//! error the program can act on, never a crash, and the runtime works again once the
//! resource is given back.
//!
//! Every scenario changes process-wide limits, so each test re-runs itself in a child
//! process (`in_child` / `run_child`), with a time limit.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gort::chan;
use gort::{ConfigError, GoroutineBuilder, JoinHandle, Runtime, SpawnError};

/// Names the test a child process is to run.
const CHILD_VAR: &str = "GORT_EXHAUSTION_CHILD";
/// No scenario takes more than a few seconds; a hang is a failure, not a stuck CI job.
const TIME_LIMIT: Duration = Duration::from_secs(20);

fn in_child(test: &str) -> bool {
    std::env::var(CHILD_VAR).as_deref() == Ok(test)
}

/// Runs `test` of this binary in a child process with `env` added, and returns its
/// output; fails if the child fails or outlives `TIME_LIMIT`.
fn run_child(test: &str, env: &[(&str, &str)]) -> String {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, test)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    let out = match done_rx.recv_timeout(TIME_LIMIT) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on our own child, not yet reaped (its waiter still waits).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = waiter.join();
            panic!("child {test} did not finish within {TIME_LIMIT:?}");
        }
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child {test}: {}\n{text}", out.status);
    text
}

/// Lowers the soft limit `resource` to `value` for this (child) process.
fn set_soft_limit(resource: libc::__rlimit_resource_t, value: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write one rlimit struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(resource, &mut r), 0);
        r.rlim_cur = value.min(r.rlim_max);
        assert_eq!(
            libc::setrlimit(resource, &r),
            0,
            "{}",
            io::Error::last_os_error()
        );
    }
}

/// This process's address space in bytes (`VmSize`).
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// The panic message of `f`, which must panic.
fn panic_text(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("should have panicked");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast::<&str>().map(|s| s.to_string()).unwrap(),
    }
}

/// Address space for a few more 64 MiB stack slabs, and for what malloc needs meanwhile.
const AS_HEADROOM: u64 = 2 * (64 << 20) + (32 << 20);

/// A goroutine that holds its stack, parked on `release` (a message or a closed channel
/// ends it), after reporting on `started` that it runs.
fn holder(
    i: usize,
    started: Option<chan::Sender<()>>,
    release: chan::Receiver<()>,
) -> impl FnOnce() -> usize + Send + 'static {
    move || {
        if let Some(started) = started {
            started.send(()).unwrap();
        }
        let _ = release.recv();
        i
    }
}

/// Under an address-space limit, spawning goroutines that each keep their stack ends in
/// `SpawnError::NoStack` (not an abort) naming the OS error, the stack size and the
/// knobs; `spawn` panics with that text; every goroutine spawned before still runs to
/// completion; and once they are done the pool serves as many goroutines again.
#[test]
fn address_space_exhaustion_is_a_spawn_error() {
    const NAME: &str = "address_space_exhaustion_is_a_spawn_error";
    if !in_child(NAME) {
        let out = run_child(NAME, &[]);
        assert!(out.contains("no stack after"), "{out}");
        return;
    }
    // One P: each goroutine runs (and takes its stack) before the next spawn, so the
    // spawn-time check sees every stack in use.
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stack_kib = rt.config().stack_size >> 10;
    rt.block_on(move || {
        set_soft_limit(libc::RLIMIT_AS, vm_size() + AS_HEADROOM);
        let (started_tx, started_rx) = chan::unbounded();
        let (release_tx, release_rx) = chan::unbounded::<()>();
        let mut held: Vec<JoinHandle<usize>> = Vec::new();
        let err = loop {
            let f = holder(held.len(), Some(started_tx.clone()), release_rx.clone());
            match gort::try_spawn(f) {
                Ok(h) => held.push(h),
                Err(e) => break e,
            }
            started_rx.recv().unwrap();
            assert!(held.len() < 100_000, "no stack limit was reached");
        };
        let SpawnError::NoStack(why) = &err else {
            panic!("expected NoStack, got {err:?}");
        };
        let text = err.to_string();
        for needle in [
            "os error 12",
            "RLIMIT_AS",
            &format!("{stack_kib} KiB"),
            "Builder::stack_size",
            "GORT_MAX_GOROUTINES",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from: {text}");
        }
        assert!(text.contains(why.as_str()));
        assert_eq!(panic_text(|| drop(gort::spawn(|| ()))), text);
        assert!(held.len() > 1, "only {} goroutines got a stack", held.len());

        let n = held.len();
        for _ in 0..n {
            release_tx.send(()).unwrap();
        }
        for (i, h) in held.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
        // The stacks are back in the pool: as many goroutines fit again.
        let again: Vec<_> = (0..n)
            .map(|i| {
                let f = holder(i, Some(started_tx.clone()), release_rx.clone());
                let h = gort::try_spawn(f).unwrap_or_else(|e| panic!("goroutine {i}: {e}"));
                started_rx.recv().unwrap();
                h
            })
            .collect();
        drop(release_tx);
        for (i, h) in again.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
        println!("no stack after {n} goroutines ({stack_kib} KiB stacks): {text}");
    });
}

/// Goroutines spawned in a burst are queued before they have stacks, so the spawn-time
/// check cannot see them all: those that find no stack when they first run end with the
/// same explanation as their panic, the rest run normally, and nothing aborts.
#[test]
fn queued_goroutines_without_a_stack_fail_through_join() {
    const NAME: &str = "queued_goroutines_without_a_stack_fail_through_join";
    if !in_child(NAME) {
        let out = run_child(NAME, &[]);
        assert!(out.contains("burst done"), "{out}");
        return;
    }
    const BURST: usize = 3000; // several times what fits in AS_HEADROOM
    let rt = Runtime::builder()
        .procs(2)
        .hog_warning(false) // the burst has no scheduling point
        .build()
        .unwrap();
    rt.block_on(|| {
        set_soft_limit(libc::RLIMIT_AS, vm_size() + AS_HEADROOM);
        let started = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = chan::unbounded::<()>();
        let mut hs = Vec::new();
        let mut refused = None;
        for i in 0..BURST {
            let (started, release) = (started.clone(), release_rx.clone());
            let holder = move || {
                started.fetch_add(1, SeqCst);
                let _ = release.recv();
                i
            };
            match gort::try_spawn(holder) {
                Ok(h) => hs.push(h),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        // Wait until each goroutine has run: it holds a stack, or it found none and
        // has finished. Only then release them, so they all want a stack at once.
        let settled = |hs: &[JoinHandle<usize>]| {
            started.load(SeqCst) + hs.iter().filter(|h| h.is_finished()).count()
        };
        while settled(&hs) < hs.len() {
            gort::yield_now();
        }
        let no_stack = hs.len() - started.load(SeqCst);
        drop(release_tx);
        let (mut ran, mut failed) = (0, 0);
        for (i, h) in hs.into_iter().enumerate() {
            match h.join() {
                Ok(got) => {
                    assert_eq!(got, i);
                    ran += 1;
                }
                Err(p) => {
                    let msg = p.downcast::<String>().expect("a String panic");
                    assert!(msg.contains("cannot allocate a stack"), "{msg}");
                    assert!(msg.contains("RLIMIT_AS"), "{msg}");
                    assert!(msg.contains("GORT_MAX_GOROUTINES"), "{msg}");
                    failed += 1;
                }
            }
        }
        if let Some(e) = &refused {
            assert!(matches!(e, SpawnError::NoStack(_)), "{e:?}");
        }
        assert!(ran > 0);
        assert_eq!(failed, no_stack);
        assert!(
            failed > 0 || refused.is_some(),
            "{BURST} goroutines fit in {AS_HEADROOM} bytes of headroom"
        );
        assert_eq!(gort::spawn(|| 5).join().unwrap(), 5);
        println!("burst done: {ran} ran, {failed} found no stack, refused: {refused:?}");
    });
}

/// A holder with its own release channel, so a test can end exactly the one it joins.
struct Held {
    release: chan::Sender<()>,
    handle: JoinHandle<usize>,
}

impl Held {
    fn finish(self) -> usize {
        self.release.send(()).unwrap();
        self.handle.join().unwrap()
    }
}

/// Spawns holders numbered from `from` with `spawn` until it fails; returns them and the
/// error.
fn spawn_until_refused(
    from: usize,
    spawn: impl Fn(usize, chan::Receiver<()>) -> Result<JoinHandle<usize>, SpawnError>,
) -> (Vec<Held>, SpawnError) {
    let mut held = Vec::new();
    loop {
        let (release, release_rx) = chan::bounded(1);
        match spawn(from + held.len(), release_rx) {
            Ok(handle) => held.push(Held { release, handle }),
            Err(e) => return (held, e),
        }
        assert!(held.len() <= 1000, "runaway: nothing was refused");
    }
}

/// `max_goroutines(100)`: the 101st live goroutine is refused with `TooManyGoroutines`
/// from a goroutine, a scope and a plain thread alike, `spawn` panics naming the knob,
/// and a goroutine stops counting as soon as it has been joined (a spawn right after
/// `join` succeeds, with no waiting).
#[test]
fn max_goroutines_caps_live_goroutines() {
    const NAME: &str = "max_goroutines_caps_live_goroutines";
    if !in_child(NAME) {
        let out = run_child(NAME, &[]);
        assert!(out.contains("cap held"), "{out}");
        return;
    }
    const CAP: usize = 100;
    let too_many = SpawnError::TooManyGoroutines { limit: CAP };
    let rt = Runtime::builder()
        .procs(2)
        .max_goroutines(CAP)
        .build()
        .unwrap();
    assert_eq!(rt.config().max_goroutines, CAP);
    let expected = too_many.clone();
    let from_goroutine = |i, release| gort::try_spawn(holder(i, None, release));
    rt.block_on(move || {
        // This main goroutine is the first of the hundred.
        let (mut held, err) = spawn_until_refused(0, from_goroutine);
        assert_eq!(held.len(), CAP - 1);
        assert_eq!(err, expected);
        let text = panic_text(|| drop(gort::spawn(|| ())));
        assert_eq!(text, err.to_string());
        for needle in ["100", "Builder::max_goroutines", "GORT_MAX_GOROUTINES"] {
            assert!(text.contains(needle), "{needle:?} missing from: {text}");
        }
        let named = GoroutineBuilder::new().name("extra").spawn(|| ());
        assert_eq!(named.unwrap_err(), expected);
        gort::scope(|s| {
            let e = s.spawn_with(GoroutineBuilder::new(), || ()).err();
            assert_eq!(e.as_ref(), Some(&expected));
        });

        // Ten are joined: exactly ten fit again, at once.
        for (i, h) in held.drain(..10).enumerate() {
            assert_eq!(h.finish(), i);
        }
        let (more, err) = spawn_until_refused(CAP, from_goroutine);
        assert_eq!(more.len(), 10);
        assert_eq!(err, expected);
        for h in held.into_iter().chain(more) {
            h.finish();
        }

        // Scoped goroutines count while they live and stop counting when they end.
        let (release_tx, release_rx) = chan::unbounded::<()>();
        let sum = gort::scope(|s| {
            let release = &release_rx;
            let hs: Vec<_> = (0..CAP - 1)
                .map(|i| s.spawn(move || release.recv().map_or(i, |()| i)))
                .collect();
            let e = s.spawn_with(GoroutineBuilder::new(), || 0).err();
            assert_eq!(e.as_ref(), Some(&expected));
            drop(release_tx);
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        });
        assert_eq!(sum, (0..CAP - 1).sum());
        let (held, err) = spawn_until_refused(0, from_goroutine);
        assert_eq!(held.len(), CAP - 1);
        assert_eq!(err, expected);
        for h in held {
            h.finish();
        }
    });

    // From a plain thread there is no main goroutine: all hundred are spawned.
    let from_thread = |i, release| rt.try_spawn(GoroutineBuilder::new(), holder(i, None, release));
    let (mut held, err) = spawn_until_refused(0, from_thread);
    assert_eq!(held.len(), CAP);
    assert_eq!(err, too_many);
    let text = panic_text(|| drop(rt.spawn(|| ())));
    assert_eq!(text, too_many.to_string());
    assert_eq!(held.swap_remove(17).finish(), 17);
    let (more, err) = spawn_until_refused(CAP, from_thread);
    assert_eq!(more.len(), 1);
    assert_eq!(err, too_many);
    for h in held.into_iter().chain(more) {
        h.finish();
    }
    println!("cap held");
}

/// `GORT_MAX_GOROUTINES` sets the cap unless the Builder does; 0 and non-numbers are
/// configuration errors naming the variable.
#[test]
fn gort_max_goroutines_from_the_environment() {
    const NAME: &str = "gort_max_goroutines_from_the_environment";
    if in_child(NAME) {
        let value = std::env::var("GORT_MAX_GOROUTINES").unwrap();
        match value.parse::<usize>() {
            Ok(n) if n > 0 => {
                assert_eq!(Runtime::new().unwrap().config().max_goroutines, n);
                let rt = Runtime::builder().max_goroutines(7).build().unwrap();
                assert_eq!(rt.config().max_goroutines, 7);
            }
            _ => match Runtime::new().map(|_| ()).unwrap_err() {
                e @ ConfigError::Env { var, .. } => {
                    assert_eq!(var, "GORT_MAX_GOROUTINES");
                    assert!(e.to_string().contains(&value), "{e}");
                }
                other => panic!("expected ConfigError::Env, got {other:?}"),
            },
        }
        println!("env {value} ok");
        return;
    }
    for value in ["0", "abc", "-1", "5"] {
        let out = run_child(NAME, &[("GORT_MAX_GOROUTINES", value)]);
        assert!(out.contains(&format!("env {value} ok")), "{out}");
    }
    assert_eq!(
        Runtime::new().unwrap().config().max_goroutines,
        usize::MAX,
        "no cap by default"
    );
}

/// With every descriptor in use before the runtime even starts, `gort::fs` calls on a
/// goroutine return `EMFILE`; the runtime goes on (goroutines run, a long `blocking`
/// call still gets its P handed to a new thread) and, once descriptors are closed,
/// opening works again.
#[test]
fn descriptor_exhaustion_is_an_error_not_a_failure() {
    const NAME: &str = "descriptor_exhaustion_is_an_error_not_a_failure";
    if !in_child(NAME) {
        let out = run_child(NAME, &[]);
        assert!(out.contains("fds done"), "{out}");
        return;
    }
    set_soft_limit(libc::RLIMIT_NOFILE, 64);
    let mut fds = Vec::new();
    let err = loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => fds.push(f),
            Err(e) => break e,
        }
        assert!(fds.len() <= 64, "opened past the limit");
    };
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

    let rt = Runtime::builder().procs(1).build().unwrap();
    let fds = rt.block_on(move || {
        let emfile = gort::spawn(|| gort::fs::File::open("/dev/null").map(drop))
            .join()
            .unwrap()
            .unwrap_err();
        assert_eq!(emfile.raw_os_error(), Some(libc::EMFILE), "{emfile}");
        let e = gort::fs::read("/proc/self/status").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");

        // Goroutines still run and talk.
        let (tx, rx) = chan::bounded(0);
        let producer = gort::spawn(move || (0..1000u64).for_each(|i| tx.send(i).unwrap()));
        assert_eq!(rx.iter().sum::<u64>(), 499_500);
        producer.join().unwrap();

        // A goroutine blocked in `blocking` waits for one queued behind it on the only
        // P: sysmon must hand the P to a new M, which needs no descriptor.
        let waiter = gort::spawn(|| {
            let (std_tx, std_rx) = mpsc::channel();
            let sender = gort::spawn(move || std_tx.send(42).unwrap());
            let got = gort::blocking(|| std_rx.recv().unwrap());
            sender.join().unwrap();
            got
        });
        assert_eq!(waiter.join().unwrap(), 42);
        fds
    });
    assert!(rt.metrics().syscall_handoffs >= 1);

    drop(fds);
    rt.block_on(|| {
        let hs: Vec<_> = (0..20)
            .map(|_| gort::spawn(|| gort::fs::read("/proc/self/status").map(|b| b.len())))
            .collect();
        for h in hs {
            assert!(h.join().unwrap().unwrap() > 0);
        }
        gort::fs::File::open("/dev/null").unwrap();
    });
    println!("fds done");
}

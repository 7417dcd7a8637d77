//! Goroutine stack overflow, end to end, in every guard regime (DESIGN §5, §11).
//!
//! An overflow kills the process, so each crash happens in a child: the test re-executes
//! this test binary with `<its own name> --exact --nocapture` and `GORT_OVERFLOW_CHILD`
//! set, the child takes the crashing branch of the same test function, and the parent
//! checks how the child died and what it wrote on stderr.
//!
//! The regimes:
//! - `GuardInstall` (and `Auto`, which is `GuardInstall` on Linux >= 6.13) and `Mprotect`:
//!   the recursion faults on the guard page and the SIGSEGV handler reports it.
//! - `Canary`: there is no guard page. Below the stack lie a one-page gap and then the
//!   neighbouring stack of the same slab, all writable, so the overflow itself does not
//!   fault. It is caught when the goroutine next switches back to its M (the M checks the
//!   zeroed red zone), or, if it never does, when the runaway recursion reaches the guard
//!   below the slab's first stack and the fault handler finds the red zone damaged.

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use gort::{GoroutineBuilder, StackGuard, StackPolicy};

/// Set in the child: take the crashing branch.
const CHILD_ENV: &str = "GORT_OVERFLOW_CHILD";
/// Stack size of every goroutine here, so the runaway recursion is over quickly.
const STACK: usize = 64 * 1024;
/// Bytes of stack buffer per recursion level.
const FRAME: usize = 1024;

fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs the test `name` of this binary in a child process; returns how it ended and its
/// stderr.
fn run_child(name: &str) -> (ExitStatus, String) {
    let out = Command::new(std::env::current_exe().expect("current_exe"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("re-executing the test binary");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status, stderr)
}

/// No core files from the children that die on purpose.
fn no_core_dump() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid rlimit value; it only affects this (child) process.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
}

/// One level of a recursion that never ends by itself: a written stack buffer per level
/// (`black_box` keeps the buffer and the recursion from being optimised away), a
/// scheduling point per level if `yield_each` (what makes a canary overflow visible
/// early), and work after the call so it is not a tail call.
#[inline(never)]
fn recurse(depth: usize, yield_each: bool) -> usize {
    let mut buf = [0u8; FRAME];
    buf.fill(depth as u8 | 1);
    black_box(&mut buf);
    if black_box(depth) == usize::MAX {
        return 0;
    }
    if yield_each {
        gort::yield_now();
    }
    let r = recurse(depth + 1, yield_each);
    black_box(&buf)[r % FRAME] as usize + r
}

/// Like `recurse` but stops after `levels`: a deep, legal recursion.
#[inline(never)]
fn recurse_to(levels: usize) -> usize {
    let mut buf = [0u8; FRAME];
    buf.fill(levels as u8 | 1);
    black_box(&mut buf);
    if black_box(levels) == 0 {
        return 1;
    }
    gort::yield_now();
    let r = recurse_to(levels - 1);
    black_box(&buf)[r % FRAME] as usize + r
}

fn runtime(policy: StackPolicy) -> gort::Runtime {
    gort::Runtime::builder()
        .procs(1)
        .stack_size(STACK)
        .stack_policy(policy)
        .build()
        .expect("runtime with this stack policy")
}

/// Child side: overflows a goroutine named `name`; never returns normally.
fn child_overflow(policy: StackPolicy, name: &'static str, yield_each: bool) {
    no_core_dump();
    let rt = runtime(policy);
    rt.block_on(move || {
        eprintln!("child: stack guard {:?}", gort::metrics().stack_guard);
        let h = GoroutineBuilder::new()
            .name(name)
            .stack_size(STACK)
            .spawn(move || recurse(0, yield_each))
            .expect("spawn");
        let _ = h.join();
    });
    eprintln!("child: the overflow was not caught");
    std::process::exit(3);
}

/// Parent side: the child died by SIGABRT after reporting the overflow of `name`.
/// Returns the child's stderr.
fn expect_overflow(test: &str, name: &str, guard: StackGuard) -> String {
    let (status, stderr) = run_child(test);
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "child should abort; status {status:?}, stderr:\n{stderr}"
    );
    for want in [
        "fatal error: stack overflow in goroutine ",
        &format!("\"{name}\""),
        "(spawned at ",
        "stack_overflow.rs:",
        "stack 64 KiB",
        &format!("child: stack guard Some({guard:?})"),
    ] {
        assert!(stderr.contains(want), "stderr lacks {want:?}:\n{stderr}");
    }
    assert!(
        !stderr.contains("overflow was not caught"),
        "stderr:\n{stderr}"
    );
    stderr
}

#[test]
fn guard_install_overflow_is_reported() {
    if in_child() {
        return child_overflow(StackPolicy::GuardInstall, "deep-guard-install", false);
    }
    expect_overflow(
        "guard_install_overflow_is_reported",
        "deep-guard-install",
        StackGuard::GuardInstall,
    );
}

#[test]
fn auto_overflow_is_reported() {
    if in_child() {
        return child_overflow(StackPolicy::Auto, "deep-auto", false);
    }
    // This kernel (Linux >= 6.13) has MADV_GUARD_INSTALL, which Auto prefers.
    expect_overflow(
        "auto_overflow_is_reported",
        "deep-auto",
        StackGuard::GuardInstall,
    );
}

#[test]
fn mprotect_overflow_is_reported() {
    if in_child() {
        return child_overflow(StackPolicy::Mprotect, "deep-mprotect", false);
    }
    expect_overflow(
        "mprotect_overflow_is_reported",
        "deep-mprotect",
        StackGuard::Mprotect,
    );
}

/// The overflow writes into the red zone and the gap page below it; the next switch
/// back to the M (the `yield_now` of the same or the next level, well before the
/// recursion can leave the gap page) finds the red zone damaged.
#[test]
fn canary_overflow_is_reported_at_the_next_switch() {
    if in_child() {
        return child_overflow(StackPolicy::Canary, "deep-canary", true);
    }
    let stderr = expect_overflow(
        "canary_overflow_is_reported_at_the_next_switch",
        "deep-canary",
        StackGuard::Canary,
    );
    assert!(
        stderr.contains("red zone overwritten; detected at a context switch"),
        "stderr:\n{stderr}"
    );
}

/// No scheduling point: the recursion runs through the gap page and the neighbouring
/// (parked) stack down to the guard below the slab's first stack; the fault handler
/// sees the running goroutine's red zone damaged and reports it.
#[test]
fn canary_overflow_without_a_switch_is_reported_at_the_fault() {
    if in_child() {
        return child_overflow(StackPolicy::Canary, "runaway-canary", false);
    }
    let stderr = expect_overflow(
        "canary_overflow_without_a_switch_is_reported_at_the_fault",
        "runaway-canary",
        StackGuard::Canary,
    );
    assert!(
        stderr.contains("red zone overwritten; detected at a fault"),
        "stderr:\n{stderr}"
    );
}

/// Writes to an unmapped low address, as a null-pointer bug would.
fn wild_write() {
    let p = 16usize as *mut u64;
    // SAFETY: not safe at all: this is the crash under test, in a child process. The
    // address is aligned and non-null, so only the page fault itself happens.
    unsafe { std::ptr::write_volatile(p, 1) };
}

/// Parent side: the child died by SIGSEGV and gort did not claim the fault.
fn expect_plain_segfault(test: &str) {
    let (status, stderr) = run_child(test);
    assert_eq!(
        status.signal(),
        Some(libc::SIGSEGV),
        "child should die of SIGSEGV; status {status:?}, stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("stack overflow in goroutine"),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("child: about to fault"),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("child: survived"), "stderr:\n{stderr}");
}

/// A fault on a plain thread, with gort's handler installed and Ms running, is chained
/// to std's handler and kills the process as it would have without gort.
#[test]
fn segfault_on_a_plain_thread_is_not_a_goroutine_overflow() {
    if in_child() {
        no_core_dump();
        let rt = runtime(StackPolicy::Auto);
        assert_eq!(rt.block_on(|| gort::spawn(|| 7).join().unwrap()), 7);
        std::thread::spawn(|| {
            eprintln!("child: about to fault");
            wild_write();
        })
        .join()
        .ok();
        eprintln!("child: survived");
        std::process::exit(3);
    }
    expect_plain_segfault("segfault_on_a_plain_thread_is_not_a_goroutine_overflow");
}

/// A fault inside a goroutine that is not near its guard is not an overflow either.
#[test]
fn segfault_in_a_goroutine_is_not_an_overflow() {
    if in_child() {
        no_core_dump();
        let rt = runtime(StackPolicy::Auto);
        rt.block_on(|| {
            let h = GoroutineBuilder::new()
                .name("wild")
                .spawn(|| {
                    eprintln!("child: about to fault");
                    wild_write();
                })
                .unwrap();
            let _ = h.join();
        });
        eprintln!("child: survived");
        std::process::exit(3);
    }
    expect_plain_segfault("segfault_in_a_goroutine_is_not_an_overflow");
}

/// Chaining keeps std's own message for an overflow of a plain thread's stack.
#[test]
fn plain_thread_overflow_keeps_std_message() {
    if in_child() {
        no_core_dump();
        let rt = runtime(StackPolicy::Auto);
        assert_eq!(rt.block_on(|| 1), 1);
        std::thread::Builder::new()
            .name("plain-deep".into())
            .stack_size(STACK)
            .spawn(|| recurse(0, false))
            .unwrap()
            .join()
            .ok();
        eprintln!("child: survived");
        std::process::exit(3);
    }
    let (status, stderr) = run_child("plain_thread_overflow_keeps_std_message");
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "status {status:?}, stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("thread 'plain-deep'") && stderr.contains("has overflowed its stack"),
        "stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("stack overflow in goroutine"),
        "stderr:\n{stderr}"
    );
}

/// Deep recursion that fits completes in every regime, with a switch at every level
/// (so the canary check runs with the stack nearly full).
#[test]
fn deep_legal_recursion_completes_in_every_regime() {
    for (policy, guard) in [
        (StackPolicy::Auto, StackGuard::GuardInstall),
        (StackPolicy::GuardInstall, StackGuard::GuardInstall),
        (StackPolicy::Mprotect, StackGuard::Mprotect),
        (StackPolicy::Canary, StackGuard::Canary),
    ] {
        let rt = runtime(policy);
        // About 70% of the stack: levels of FRAME bytes plus call overhead.
        let levels = STACK * 7 / 10 / (FRAME + 128);
        let got = rt.block_on(move || {
            (0..4)
                .map(|_| {
                    GoroutineBuilder::new()
                        .name("deep-but-legal")
                        .stack_size(STACK)
                        .spawn(move || recurse_to(levels))
                        .unwrap()
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().expect("no overflow"))
                .collect::<Vec<_>>()
        });
        assert_eq!(got.len(), 4, "{policy:?}");
        assert!(got.iter().all(|&r| r > 0), "{policy:?}");
        assert_eq!(rt.metrics().stack_guard, Some(guard), "{policy:?}");
    }
}

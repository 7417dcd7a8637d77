//! `blocking`: run code that may block its OS thread (Go's `entersyscall` /
//! `exitsyscall`).
//!
//! ```text
//!  goroutine G on M1 holding P                 sysmon (every 20 µs .. 10 ms)
//!  ───────────────────────────                 ───────────────────────────────
//!  enter: P.syscall = seq|IN, M1 lets go of P   sees P in the same call twice and
//!         in its context (P stays reserved)     work waiting: CAS seq|IN -> RETAKEN,
//!  f() runs on G's stack, on M1                 hands P to another M (handoffp)
//!  exit:  CAS seq|IN -> NONE ok?  keep P (fast path: no lock, no wakeup)
//!         else an idle P? (the old one first)   take it, go on
//!         else: suspend G (Requeue); M1 queues G globally and sleeps
//! ```
//!
//! Inside `f` the M has no P and no current goroutine, so gort calls made there behave
//! as on a plain thread (channel operations block the thread). The sequence number in
//! the syscall word makes the exit CAS fail if the P was retaken, even if the P has
//! entered another `blocking` call on another M since.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;

use crate::context::{self, MContext};
use crate::g::{Suspend, G};
use crate::metrics::bump;
use crate::trace::{self, kind, points};

/// Runs `f`, which may block its OS thread (a file read, a name lookup, a C call),
/// without stalling the other goroutines.
///
/// The goroutine keeps its P while `f` runs; if `f` is still running after one sysmon
/// tick (~20 µs) and other goroutines wait, sysmon hands the P to another OS thread. When
/// `f` returns, the goroutine continues on any free P, or waits in the global queue for
/// one. The fast path (no handoff) costs a few atomic operations.
///
/// On a plain thread, or outside a runtime, `f` simply runs. A panic in `f` propagates
/// to the caller after the goroutine is back on a P. Dropping the runtime waits for
/// calls in progress to return (their goroutine's stack is in use until then), so a call
/// that may block forever should carry its own timeout.
///
/// ```
/// let n = gort::run(|| gort::blocking(|| std::fs::read_dir(".").map(|d| d.count())));
/// assert!(n.unwrap() > 0);
/// ```
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    let ctx = context::current();
    if ctx.is_null() {
        return f();
    }
    // SAFETY: a non-null current() is this M's live context; `f` runs on this thread
    // (no switch happens while the M has no goroutine), so it stays valid throughout.
    let ctx = unsafe { &*ctx };
    let g = ctx.curg.get();
    let (false, Some(pid)) = (g.is_null(), ctx.p.get()) else {
        return f(); // the scheduler loop itself (a destructor), or no P
    };
    let s = &ctx.sched;
    if trace::on(s) {
        // SAFETY: `g` is the goroutine running this code.
        let id = unsafe { (*g).info().id };
        points::go_event(s, kind::BLOCKING_ENTER, 0, id, Some(pid), 0);
    }
    s.nsyscall.fetch_add(1, SeqCst);
    let word = s.ps[pid].status.enter_syscall();
    ctx.curg.set(std::ptr::null());
    ctx.p.set(None);
    let r = catch_unwind(AssertUnwindSafe(f));
    exit(ctx, g, pid, word);
    match r {
        Ok(v) => v,
        Err(p) => resume_unwind(p),
    }
}

/// Go's `exitsyscall`: gets a P back for goroutine `g`.
fn exit(ctx: &MContext, g: *const G, old: usize, word: u64) {
    let s = &ctx.sched;
    ctx.curg.set(g);
    if s.ps[old].status.exit_syscall(word) {
        ctx.p.set(Some(old));
        if trace::on(s) {
            traced_exit(s, g, Some(old), 0);
        }
        // The same run goes on (no switch counted, the preempt request kept), so a loop
        // of short calls is still preempted like any other long run.
        s.ps[old]
            .status
            .curg
            .store(g as *mut G, std::sync::atomic::Ordering::Relaxed);
        s.nsyscall.fetch_sub(1, SeqCst);
        return;
    }
    // Sysmon gave our P away. Any idle P, the old one first.
    let got = {
        let mut l = s.lock.lock();
        match l.idle_ps.iter().position(|&p| p == old) {
            Some(i) => {
                l.idle_ps.swap_remove(i);
                s.npidle.fetch_sub(1, SeqCst);
                Some(old)
            }
            None => l.pidleget(s),
        }
    };
    if trace::on(s) {
        if got == Some(old) {
            // Taken from the idle list without `pidleget`.
            points::event(s, kind::P_BUSY, 0, got, 0);
        }
        traced_exit(s, g, got, if got.is_some() { 1 } else { 2 });
    }
    if let Some(pid) = got {
        ctx.p.set(Some(pid));
        bump(&s.ps[pid].counters.switches);
        s.ps[pid].status.run(g);
        bump(&s.ps[pid].counters.syscall_reacquires);
        s.nsyscall.fetch_sub(1, SeqCst);
        return;
    }
    // Every P is busy: queue this goroutine and let the M sleep (schedule.rs does both
    // once we are off this stack).
    // SAFETY: `g` is the goroutine running this code; its yielder lives on this stack.
    unsafe { (*(*g).yielder()).suspend(Suspend::Requeue) };
}

#[cold]
fn traced_exit(s: &crate::sched::Sched, g: *const G, p: Option<usize>, how: u8) {
    // SAFETY: `g` is the goroutine running this code.
    let id = unsafe { (*g).info().id };
    points::go_event(s, kind::BLOCKING_EXIT, how, id, p, 0);
}

//! Cooperative preemption: sysmon flags a goroutine that has run past the hog threshold
//! (`sysmon.rs`), and the goroutine yields at its next scheduling point.
//!
//! gort does not preempt asynchronously (Go does, with a signal): Rust code stopped at
//! an arbitrary instruction may hold the allocator's lock, a `RefCell` borrow, a
//! thread-local's state or a thread-bound guard, and switching to another goroutine on
//! the same thread could deadlock or observe them half-changed. So a goroutine yields
//! only where it calls into gort: [`yield_now`](crate::yield_now), any channel, sync,
//! net or time call, and [`checkpoint`]. A loop that calls none of these keeps its P;
//! sysmon reports it as a hog (see [`Builder::hog_threshold`](crate::Builder::hog_threshold)).
//!
//! With [`Builder::quantum`](crate::Builder::quantum), a scheduling point also compares
//! the cycle counter with the end of the current run's slice (Concord's approach): quanta
//! of microseconds, with no thread having to notice and no flag to set.

use std::sync::atomic::Ordering::Relaxed;

use crate::context;

/// A scheduling point for long computations: yields if sysmon has asked the current
/// goroutine to (it ran past the hog threshold, 10 ms by default) or its quantum is over
/// ([`Builder::quantum`](crate::Builder::quantum)), else returns at once
/// (a few nanoseconds). Call it every so often in CPU-bound loops so other goroutines on
/// the same P get to run. Outside a goroutine it does nothing.
///
/// ```
/// gort::run(|| {
///     let mut x = 0u64;
///     for i in 0..1_000_000u64 {
///         x = x.wrapping_mul(31).wrapping_add(i);
///         if i % 1024 == 0 {
///             gort::checkpoint();
///         }
///     }
///     x
/// });
/// ```
#[inline]
pub fn checkpoint() {
    if requested() {
        crate::waiter::preempt_current();
    }
}

/// Whether the P running the caller has a preempt request.
#[inline(never)]
fn requested() -> bool {
    let ctx = context::current();
    if ctx.is_null() {
        return false;
    }
    // SAFETY: a non-null current() is this M's live context; nothing is kept.
    let ctx = unsafe { &*ctx };
    match ctx.p.get() {
        Some(pid) => {
            ctx.sched.ps[pid].status.preempt.load(Relaxed)
                || (ctx.quantum_ticks != 0 && gort_asm::ticks() >= ctx.slice_end.get())
                || (ctx.chaos_on() && ctx.chaos_roll(crate::chaos::YIELD_ODDS))
        }
        None => false,
    }
}

//! Who is waiting: a goroutine or a plain OS thread. Every blocking gort call parks
//! whichever of the two it runs on, so the same types work from both.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crate::context::{self, Caller};
use crate::g::{GRef, Suspend, Wait, WaitReason, G};
use crate::timer::{self, TimerSlot};

pub(crate) enum Waiter {
    G(GRef),
    Thread(std::thread::Thread),
}

impl Waiter {
    /// The caller: its goroutine if it runs on one, else its thread.
    pub(crate) fn current() -> Waiter {
        match current_gref() {
            Some(g) => Waiter::G(g),
            None => Waiter::Thread(std::thread::current()),
        }
    }

    pub(crate) fn wake(self) {
        match self {
            Waiter::G(g) => unpark(&g),
            Waiter::Thread(t) => t.unpark(),
        }
    }
}

/// A counted reference to the goroutine running on this thread.
pub(crate) fn current_gref() -> Option<GRef> {
    let g = context::current_g();
    if g.is_null() {
        return None;
    }
    // SAFETY: a running G is an `Arc<G>` allocation kept alive by its M for as long as it
    // runs, so taking one more strong reference to it is sound.
    unsafe {
        Arc::increment_strong_count(g);
        Some(Arc::from_raw(g))
    }
}

/// Makes a parked goroutine runnable (or leaves a token for its next park). It goes to
/// the waker's `runnext`: it was probably waiting for what the waker just did.
pub(crate) fn unpark(g: &GRef) {
    if g.state.unpark() {
        g.sched.ready(g.clone(), true);
    }
}

/// Like [`unpark`], but to the tail of the queue: for batches (expired timers) whose
/// order must be kept.
pub(crate) fn unpark_fifo(g: &GRef) {
    if g.state.unpark() {
        g.sched.ready(g.clone(), false);
    }
}

/// Parks the caller until an unpark: the goroutine if on one, else the thread. May
/// return spuriously; callers re-check their condition. During runtime teardown it
/// returns at once. `w` (the reason and the user's call site) is what dumps show while
/// it waits, with the time it parked.
pub(crate) fn park_current(w: Wait) {
    let g = match context::caller() {
        Caller::Teardown => return,
        Caller::Thread => return std::thread::park(),
        Caller::Goroutine(g) => g,
    };
    // SAFETY: `g` is the goroutine running this code, alive while it runs.
    let g: &G = unsafe { &*g };
    if g.state.take_token() {
        return;
    }
    g.set_wait(w);
    g.parked_at.store(gort_asm::ticks(), Relaxed);
    let y = g.yielder();
    // SAFETY: the yielder lives on this goroutine's own stack (corosensei's parent link)
    // and was recorded when it started; we are running on that stack.
    unsafe { (*y).suspend(Suspend::Park) };
    // Re-read: the goroutine may have moved to another M, but `g` is the same G.
    g.wait_reason.store(WaitReason::None as u8, Relaxed);
}

/// Parks the caller until an unpark or until `deadline`; returns true when it returned
/// because the deadline passed. Like [`park_current`] it may return spuriously. A
/// goroutine's deadline is a timer on its P; a plain thread uses `park_timeout`.
pub(crate) fn park_until(deadline: Instant, w: Wait) -> bool {
    if context::in_teardown() {
        return true;
    }
    let ctx = context::current();
    let g = context::current_g();
    if g.is_null() || ctx.is_null() {
        let now = crate::timer::now();
        if now >= deadline {
            return true;
        }
        std::thread::park_timeout(deadline - now);
        return crate::timer::now() >= deadline;
    }
    let when = timer::instant_to_ns(deadline);
    if when <= timer::now_ns() {
        return true;
    }
    // SAFETY: a non-null current() is this M's live context; we read it before parking
    // and keep nothing from it across the switch.
    let (sched, pid) = unsafe { ((*ctx).sched.clone(), (*ctx).p.get()) };
    let Some(pid) = pid else {
        return true;
    };
    let slot = TimerSlot::new(current_gref().expect("on a goroutine"));
    if sched.ps[pid].timers.add(when, slot.clone()) {
        sched.timer_added(when);
    }
    park_current(w);
    if slot.cancel() {
        sched.ps[pid].timers.note_cancelled();
        false
    } else {
        true
    }
}

/// Switches to the scheduler, putting the caller at the tail of its P's run queue.
pub(crate) fn yield_current() -> bool {
    let Caller::Goroutine(g) = context::caller() else {
        return false;
    };
    // SAFETY: as in `park_current`.
    unsafe { (*(*g).yielder()).suspend(Suspend::Yield) };
    true
}

/// As [`yield_current`], for a preempt request (traced apart).
pub(crate) fn preempt_current() -> bool {
    let Caller::Goroutine(g) = context::caller() else {
        return false;
    };
    // SAFETY: as in `park_current`.
    unsafe { (*(*g).yielder()).suspend(Suspend::Preempt) };
    true
}

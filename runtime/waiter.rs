//! Who is waiting: a goroutine or a plain OS thread. Every blocking gort call parks
//! whichever of the two it runs on, so the same types work from both.

use std::sync::Arc;

use crate::context;
use crate::g::{GRef, Suspend, G};

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

/// Makes a parked goroutine runnable (or leaves a token for its next park).
pub(crate) fn unpark(g: &GRef) {
    if g.state.unpark() {
        g.sched.ready(g.clone(), true);
    }
}

/// Parks the caller until an unpark: the goroutine if on one, else the thread. May
/// return spuriously; callers re-check their condition. During runtime teardown it
/// returns at once.
pub(crate) fn park_current() {
    if context::in_teardown() {
        return;
    }
    let g = context::current_g();
    if g.is_null() {
        std::thread::park();
        return;
    }
    // SAFETY: `g` is the goroutine running this code, alive while it runs.
    let g: &G = unsafe { &*g };
    if g.state.take_token() {
        return;
    }
    let y = g.yielder();
    // SAFETY: the yielder lives on this goroutine's own stack (corosensei's parent link)
    // and was recorded when it started; we are running on that stack.
    unsafe { (*y).suspend(Suspend::Park) };
}

/// Switches to the scheduler, putting the caller at the tail of its P's run queue.
pub(crate) fn yield_current() -> bool {
    if context::in_teardown() {
        return false;
    }
    let g = context::current_g();
    if g.is_null() {
        return false;
    }
    // SAFETY: as in `park_current`.
    unsafe { (*(*g).yielder()).suspend(Suspend::Yield) };
    true
}

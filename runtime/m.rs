//! M: an OS thread that runs goroutines (Go's `m`).
//!
//! An M runs the scheduler loop (`schedule.rs`) on its own native stack, which plays the
//! role of Go's g0, and resumes one goroutine at a time. It needs a P to run goroutines;
//! without one it parks on its own condition variable in the idle list until `startm`
//! hands it a P (or the runtime shuts down). Ms are created on demand by `startm`.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::context::{self, MContext};
use crate::overflow;
use crate::sched::Sched;
use crate::schedule;

pub(crate) struct M {
    pub(crate) id: usize,
    handoff: Mutex<Handoff>,
    cv: Condvar,
}

#[derive(Default)]
struct Handoff {
    /// A P to run, and whether to start spinning with it.
    next: Option<(usize, bool)>,
    stop: bool,
}

impl M {
    pub(crate) fn new(id: usize) -> M {
        M {
            id,
            handoff: Mutex::new(Handoff::default()),
            cv: Condvar::new(),
        }
    }

    /// Hands P `pid` to this idle M and wakes it (Go's `notewakeup(&mp.park)`).
    pub(crate) fn wake(&self, pid: usize, spinning: bool) {
        let mut h = self.handoff.lock();
        debug_assert!(h.next.is_none());
        h.next = Some((pid, spinning));
        self.cv.notify_one();
    }

    /// Tells this idle M to exit.
    pub(crate) fn stop(&self) {
        self.handoff.lock().stop = true;
        self.cv.notify_one();
    }

    /// Blocks until handed a P (`Some`) or told to exit (`None`).
    fn wait(&self) -> Option<(usize, bool)> {
        let mut h = self.handoff.lock();
        loop {
            if let Some(next) = h.next.take() {
                return Some(next);
            }
            if h.stop {
                return None;
            }
            self.cv.wait(&mut h);
        }
    }
}

/// Go's `stopm`: puts this M (already without a P) in the idle list and sleeps until it
/// is given a P. Returns false when the runtime is shutting down.
pub(crate) fn stopm(ctx: &MContext) -> bool {
    {
        let mut l = ctx.sched.lock.lock();
        if ctx.sched.shutdown.load(SeqCst) {
            return false;
        }
        l.idle_ms.push(ctx.m.clone());
    }
    match ctx.m.wait() {
        Some((pid, spinning)) => {
            ctx.p.set(Some(pid));
            ctx.spinning.set(spinning);
            true
        }
        None => false,
    }
}

/// The body of every M thread.
pub(crate) fn m_main(sched: Arc<Sched>, m: Arc<M>, pid: usize, spinning: bool) {
    let _altstack = overflow::ThreadAltStack::install();
    let ctx = MContext::new(sched, m);
    ctx.p.set(Some(pid));
    ctx.spinning.set(spinning);
    context::set_current(&ctx);
    schedule::run_loop(&ctx);
    context::set_current(std::ptr::null());
    if ctx.spinning.get() {
        ctx.sched.nmspinning.fetch_sub(1, SeqCst);
    }
    if let Some(pid) = ctx.p.take() {
        ctx.sched.lock.lock().pidleput(&ctx.sched, pid);
    }
}

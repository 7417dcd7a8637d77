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
use crate::timer;
use crate::trace::{self, kind, points};

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
    /// An earlier timer arrived: the timer M must recompute its deadline.
    kicked: bool,
}

/// Why an idle M woke up.
enum Woke {
    Handed(usize, bool),
    Stop,
    /// Its deadline passed, or it was kicked to recompute it.
    Timer,
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

    /// Wakes the timer M to recompute its deadline.
    pub(crate) fn kick(&self) {
        self.handoff.lock().kicked = true;
        self.cv.notify_one();
    }

    /// Blocks until handed a P, told to exit, or (with a deadline) the deadline passes or
    /// a kick arrives.
    fn wait(&self, deadline: Option<std::time::Instant>) -> Woke {
        let mut h = self.handoff.lock();
        loop {
            if let Some((pid, spinning)) = h.next.take() {
                h.kicked = false;
                return Woke::Handed(pid, spinning);
            }
            if h.stop {
                return Woke::Stop;
            }
            match deadline {
                None => self.cv.wait(&mut h),
                Some(d) => {
                    if std::mem::take(&mut h.kicked) || self.cv.wait_until(&mut h, d).timed_out() {
                        if let Some((pid, spinning)) = h.next.take() {
                            return Woke::Handed(pid, spinning);
                        }
                        return Woke::Timer;
                    }
                }
            }
        }
    }
}

/// Go's `stopm`: puts this M (already without a P) to sleep until it is given a P.
/// Returns false when the runtime is shutting down.
///
/// While goroutines wait for I/O and no other M does, this M becomes the *poll M*: it
/// blocks in the netpoller until readiness or the earliest timer (`poll_idle`).
/// Otherwise it waits in the idle list; if timers are pending and no other M watches
/// them, it is the *timer M*: it sleeps only until the earliest timer, then takes an idle
/// P and goes spinning, which runs the expired timers (`schedule.rs`).
pub(crate) fn stopm(ctx: &MContext) -> bool {
    loop {
        if let Some(running) = stop_once(ctx) {
            return running;
        }
    }
}

/// One round of `stopm`; `None` when the poll M must go around again.
fn stop_once(ctx: &MContext) -> Option<bool> {
    let s = &ctx.sched;
    let mut exit_at = None;
    let deadline = {
        let mut l = s.lock.lock();
        if s.shutdown.load(SeqCst) {
            return Some(false);
        }
        let earliest = s.earliest_timer();
        let expired_and_busy = earliest <= timer::now_ns() && l.idle_ps.is_empty();
        if s.io_waiters() && !l.polling && !expired_and_busy {
            l.polling = true;
            s.polling_now.store(true, SeqCst);
            l.poll_deadline = earliest;
            drop(l);
            return poll_idle(ctx, earliest);
        }
        l.idle_ms.push(ctx.m.clone());
        if earliest == u64::MAX {
            s.check_dead(&l);
        }
        if l.timer_m.is_none() && earliest != u64::MAX && !expired_and_busy {
            l.timer_m = Some(ctx.m.clone());
            l.timer_deadline = earliest;
            Some(timer::ns_to_instant(earliest))
        } else if s.nthreads.load(SeqCst) > s.config.procs + 1 {
            // An extra M (started for a P whose M was blocked): exit if unused.
            exit_at = Some(std::time::Instant::now() + s.config.idle_thread_timeout);
            exit_at
        } else {
            None
        }
    };
    if trace::on(s) {
        points::event_on(ctx, kind::M_PARK, 0, None, 0);
    }
    let woke = ctx.m.wait(deadline);
    if trace::on(s) {
        points::event_on(ctx, kind::M_WAKE, 0, None, 0);
    }
    if let (Woke::Timer, Some(at)) = (&woke, exit_at) {
        if std::time::Instant::now() >= at {
            let mut l = s.lock.lock();
            if let Some(i) = l.idle_ms.iter().position(|m| Arc::ptr_eq(m, &ctx.m)) {
                l.idle_ms.swap_remove(i);
                return Some(false);
            }
            drop(l);
            // `startm` popped us just now: its P is on the way.
            return Some(take_handoff(ctx, ctx.m.wait(None)));
        }
        return None;
    }
    if let Woke::Handed(..) = woke {
        s.lock.lock().resign_timer_m(&ctx.m);
    }
    if let Woke::Timer = woke {
        let mut l = s.lock.lock();
        l.resign_timer_m(&ctx.m);
        // Still in the idle list (else `startm` popped us and its P is on the way)?
        if let Some(i) = l.idle_ms.iter().position(|m| Arc::ptr_eq(m, &ctx.m)) {
            if let Some(pid) = l.pidleget(s) {
                l.idle_ms.swap_remove(i);
                // Spin with it: runs every P's expired timers, then looks for work.
                s.nmspinning.fetch_add(1, SeqCst);
                ctx.p.set(Some(pid));
                ctx.spinning.set(true);
                return Some(true);
            }
            // Every P is busy: their Ms run the timers at their next schedule. Stay idle
            // without a deadline (re-arming one in the past would spin) until handed a
            // P; the next M to go idle takes the timer role.
        }
        drop(l);
        return Some(take_handoff(ctx, ctx.m.wait(None)));
    }
    Some(take_handoff(ctx, woke))
}

/// The poll M: blocks in the netpoller until I/O readiness, the timer deadline
/// `earliest`, or a wake (an earlier timer, shutdown). Readied goroutines and expired
/// timers need a P: this M takes an idle one and returns to the scheduler with it; when
/// every P is busy the goroutines go to the global queue for the busy Ms, and this M
/// goes back to sleep.
fn poll_idle(ctx: &MContext, earliest: u64) -> Option<bool> {
    let s = &ctx.sched;
    let timeout = (earliest != u64::MAX)
        .then(|| std::time::Duration::from_nanos(earliest.saturating_sub(timer::now_ns())));
    let gs = s.netpoll(timeout);
    let timers_due = s.earliest_timer() <= timer::now_ns();
    let pid = {
        let mut l = s.lock.lock();
        l.polling = false;
        s.polling_now.store(false, SeqCst);
        l.poll_deadline = u64::MAX;
        if s.shutdown.load(SeqCst) {
            None
        } else if !gs.is_empty() || timers_due {
            l.pidleget(s)
        } else {
            None
        }
    };
    match pid {
        Some(pid) => {
            ctx.p.set(Some(pid));
            if gs.is_empty() {
                // Only timers: spin, which runs every P's expired timers.
                s.nmspinning.fetch_add(1, SeqCst);
                ctx.spinning.set(true);
            } else {
                // SAFETY: this M now holds `pid`.
                unsafe { s.inject(gs, Some(&s.ps[pid])) };
            }
            Some(true)
        }
        None => {
            // Shutdown drains the global queue, so nothing readied here is lost.
            // SAFETY: passing no P.
            unsafe { s.inject(gs, None) };
            if s.shutdown.load(SeqCst) {
                return Some(false);
            }
            None
        }
    }
}

/// Installs a P handed over by `startm`; false when told to stop instead.
fn take_handoff(ctx: &MContext, woke: Woke) -> bool {
    match woke {
        Woke::Handed(pid, spinning) => {
            ctx.p.set(Some(pid));
            ctx.spinning.set(spinning);
            true
        }
        Woke::Stop | Woke::Timer => false,
    }
}

/// The body of every M thread.
pub(crate) fn m_main(sched: Arc<Sched>, m: Arc<M>, pid: usize, spinning: bool) {
    let _altstack = overflow::ThreadAltStack::install();
    let ctx = MContext::new(sched, m);
    ctx.p.set(Some(pid));
    ctx.spinning.set(spinning);
    context::set_current(&ctx);
    if trace::on(&ctx.sched) {
        points::event_on(&ctx, kind::M_START, 0, Some(pid), 0);
    }
    schedule::run_loop(&ctx);
    context::set_current(std::ptr::null());
    ctx.sched.nthreads.fetch_sub(1, SeqCst);
    if ctx.spinning.get() {
        ctx.sched.nmspinning.fetch_sub(1, SeqCst);
    }
    if let Some(pid) = ctx.p.take() {
        ctx.sched.lock.lock().pidleput(&ctx.sched, pid);
    }
}

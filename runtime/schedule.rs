//! The scheduler loop of an M: find a runnable goroutine (Go's `findRunnable`), run it
//! until it yields, parks or finishes (`execute`), repeat.
//!
//! Order of `find_runnable`, as in Go:
//! 1. every `global_queue_interval`-th tick (61), one goroutine from the global queue
//!    first, so a busy P cannot starve it;
//! 2. the local `runnext`, then the local ring;
//! 3. a batch from the global queue;
//! 4. the netpoller, without blocking, when goroutines wait for I/O (`netpoll.rs`);
//! 5. steal from other Ps, if this M may spin;
//! 6. give the P back, re-check everything if we were spinning, and sleep.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use corosensei::{Coroutine, CoroutineResult};

use crate::context::MContext;
use crate::g::{GRef, Suspend};
use crate::m;
use crate::metrics::bump;
use crate::overflow;
use crate::p::P;
use crate::policy::Fixed;
use crate::steal;
use crate::timer;
use crate::trace::{self, kind, points};

/// Runs goroutines until the runtime shuts down.
#[inline(always)] // one caller; keeps the switch path in one function
pub(crate) fn run_loop(ctx: &MContext) {
    while let Some((g, inherit)) = find_runnable(ctx) {
        if ctx.spinning.get() {
            reset_spinning(ctx);
        }
        execute(ctx, g, inherit);
    }
}

fn become_spinning(ctx: &MContext, p: &P) {
    ctx.spinning.set(true);
    ctx.sched.nmspinning.fetch_add(1, SeqCst);
    bump(&p.counters.spins);
}

/// Go's `resetspinning`: a spinning M found work; if it was the last spinner, wake
/// another M to keep looking (there may be more work).
fn reset_spinning(ctx: &MContext) {
    ctx.spinning.set(false);
    let s = &ctx.sched;
    s.nmspinning.fetch_sub(1, SeqCst);
    // Without thieves, the only work another M could find is in the global queue.
    if s.thieves || s.global_len() > 0 {
        s.wakep();
    }
}

/// Returns a goroutine to run and whether it inherits the current time slice, or `None`
/// when the runtime is shutting down.
#[inline(always)] // one caller: the loop, on every switch
fn find_runnable(ctx: &MContext) -> Option<(GRef, bool)> {
    let s = &*ctx.sched;
    loop {
        if s.shutdown.load(SeqCst) {
            return None;
        }
        let Some(pid) = ctx.p.get() else {
            // Back from `blocking` without a P (its goroutine went to the global queue).
            if !m::stopm(ctx) {
                return None;
            }
            continue;
        };
        if let Some(found) = look(ctx, pid) {
            return Some(found);
        }
        if !give_back(ctx, pid) {
            return None;
        }
    }
}

/// Step 6: nothing to do, so give P `pid` back and sleep (out of line: the switch path
/// never comes here). False when the runtime shuts down meanwhile.
#[inline(never)]
fn give_back(ctx: &MContext, pid: usize) -> bool {
    let s = &*ctx.sched;
    // The global queue is checked under the lock that producers also take, so work
    // pushed before this point is seen here.
    {
        let mut l = s.lock.lock();
        if s.global_len() > 0 || !l.inboxes[pid].is_empty() {
            return true;
        }
        l.pidleput(s, pid);
        ctx.p.set(None);
    }
    if ctx.spinning.get() {
        // Decrement first, then re-check: a producer that saw us spinning did not
        // wake anyone, so its work must be found by this re-check (sched.rs).
        ctx.spinning.set(false);
        s.nmspinning.fetch_sub(1, SeqCst);
        // Other Ps' queues count only for a policy that steals from them.
        let stealable = s.config.steal_rounds > 0 && s.ps.iter().any(|p| !p.runq.is_empty());
        if s.global_len() > 0 || stealable {
            let got = s.lock.lock().pidleget(s);
            if let Some(pid) = got {
                ctx.p.set(Some(pid));
                become_spinning(ctx, &s.ps[pid]);
                return true;
            }
        }
    }
    m::stopm(ctx)
}

/// Steps 1–5 of the search for work on P `pid`, held by `ctx`'s M (also the step of a
/// simulated P, `sim/`): a goroutine and whether it inherits the time slice, or `None`.
/// Only the P's own queue is inline: the rest is out of line, which keeps the switch
/// path's registers free.
#[inline(always)]
pub(crate) fn look(ctx: &MContext, pid: usize) -> Option<(GRef, bool)> {
    let s = &*ctx.sched;
    let cfg = &s.config;
    let p = &s.ps[pid];
    loop {
        if p.timers.next_when() != u64::MAX {
            run_own_timers(ctx, p);
        }
        // SAFETY: this M holds P `pid`.
        let local = unsafe { p.local() };
        if local.fair_countdown == 0 {
            // The fairness tick: the shared queues get a turn even while the local ring
            // never empties.
            local.fair_countdown = cfg.global_queue_interval;
            if s.global_len() > 0 {
                // SAFETY: this M holds P `pid`.
                if let Some(g) = unsafe { s.globrunqget(p, 1) } {
                    return Some((g, false));
                }
            }
            if p.inbox_len() > 0 {
                // SAFETY: this M holds P `pid`.
                if let Some(g) = unsafe { s.inbox_take(p) } {
                    return Some((g, false));
                }
            }
        }
        // SAFETY: this M holds P `pid`, so it owns its run queue.
        if let Some((g, inherit)) = unsafe { p.runq.pop(cfg.runnext) } {
            if !inherit || cfg.runnext_limit == u32::MAX {
                return Some((g, inherit));
            }
            // SAFETY: this M holds P `pid`.
            match unsafe { limit_runnext(s, p, g) } {
                Some(g) => return Some((g, true)),
                None => continue,
            }
        }
        match look_elsewhere(ctx, p) {
            Elsewhere::Found(g) => return Some((g, false)),
            Elsewhere::Again => continue,
            Elsewhere::Nothing => return None,
        }
    }
}

/// What [`look_elsewhere`] found.
enum Elsewhere {
    Found(GRef),
    /// Timers of other Ps fired: look at the own queue again.
    Again,
    Nothing,
}

/// Runs P `p`'s expired timers (`look`, step 0).
#[inline(never)]
fn run_own_timers(ctx: &MContext, p: &P) {
    let fired = p.timers.run_expired(timer::now_ns());
    if fired > 0 && trace::on(&ctx.sched) {
        points::event_on(ctx, kind::TIMER_FIRE, 0, Some(p.id), fired as u32);
    }
}

/// Steps 3–5 of `look`, once the P's own queue is empty: its inbox, the global queue,
/// the netpoller, other Ps' timers, stealing.
#[inline(never)]
fn look_elsewhere(ctx: &MContext, p: &P) -> Elsewhere {
    let s = &*ctx.sched;
    let cfg = &s.config;
    if p.inbox_len() > 0 {
        // SAFETY: this M holds P `p`.
        if let Some(g) = unsafe { s.inbox_take(p) } {
            return Elsewhere::Found(g);
        }
    }
    // SAFETY: this M holds P `p`.
    if let Some(g) = unsafe { s.globrunqget(p, 0) } {
        return Elsewhere::Found(g);
    }
    if s.io_waiters() {
        let mut gs = s.netpoll(Some(std::time::Duration::ZERO));
        if let Some(g) = gs.pop() {
            // SAFETY: this M holds P `p`.
            unsafe { ctx.sched.inject(gs, Some(p)) };
            return Elsewhere::Found(g);
        }
    }
    // Expired timers of other Ps (idle ones, or busy ones whose M has not looked).
    if s.earliest_timer() != u64::MAX {
        let fired = s.run_all_timers(timer::now_ns());
        if fired > 0 {
            if trace::on(s) {
                points::event_on(ctx, kind::TIMER_FIRE, 0, Some(p.id), fired as u32);
            }
            return Elsewhere::Again;
        }
    }
    if cfg.steal_rounds > 0 && (ctx.spinning.get() || s.may_spin()) {
        if !ctx.spinning.get() {
            become_spinning(ctx, p);
        }
        if let Some(g) = steal::steal_work(ctx, p) {
            return Elsewhere::Found(g);
        }
    }
    Elsewhere::Nothing
}

/// The policy's `runnext_limit` (tokio's LIFO cap), for `g` just taken from `runnext`:
/// counts runs from `runnext` since the last fresh run (one that bumped `schedtick`);
/// past the limit `g` goes to the ring's tail instead (`None`: look again).
///
/// # Safety
/// The caller holds `p`.
#[cold]
unsafe fn limit_runnext(s: &crate::sched::Sched, p: &P, g: GRef) -> Option<GRef> {
    // SAFETY: the caller holds `p`.
    let local = unsafe { p.local() };
    if local.streak_tick != local.schedtick {
        local.streak_tick = local.schedtick;
        local.runnext_streak = 0;
    }
    if local.runnext_streak < s.config.runnext_limit {
        local.runnext_streak += 1;
        return Some(g);
    }
    local.runnext_streak = 0;
    // SAFETY: the caller holds `p`.
    unsafe { s.runqput(p, g, false) };
    None
}

/// Runs `g` on this M until it yields, parks or returns.
#[inline(always)] // on the switch path (the simulation driver is the other caller)
pub(crate) fn execute(ctx: &MContext, g: GRef, inherit: bool) {
    let s = &ctx.sched;
    let pid = ctx.p.get().expect("an M in execute holds a P");
    let p = &s.ps[pid];
    {
        // SAFETY: this M holds `p`.
        let local = unsafe { p.local() };
        if inherit {
            bump(&p.counters.runnext_runs);
        } else {
            local.schedtick = local.schedtick.wrapping_add(1);
            local.fair_countdown = local.fair_countdown.saturating_sub(1);
            local.slice_start = 0;
        }
    }
    bump(&p.counters.switches);
    // SAFETY: we dequeued `g`, so we own it and nothing else touches its coroutine.
    let coro = unsafe { g.coro() };
    if coro.is_none() && !attach_stack(ctx, p, &g, coro) {
        return finish(ctx, p, g);
    }
    let gp = Arc::as_ptr(&g);
    ctx.curg.set(gp);
    p.status.run(gp);
    if trace::on(s) {
        points::go_start(ctx, &g, pid, inherit);
    }
    if ctx.quantum_ticks != 0 {
        ctx.slice_end
            .set(gort_asm::ticks().saturating_add(ctx.quantum_ticks));
    }
    if p.status.cpu_clock.load(Relaxed) != ctx.cpu_clock {
        p.status.cpu_clock.store(ctx.cpu_clock, Relaxed);
    }
    // A sampled transition (`Sched::note_runnable`): time the wait and this run.
    let mut run_start = match g.ready_at.load(Relaxed) {
        0 => 0,
        ready => record_latency(p, &g, ready),
    };
    let range = g.stack().expect("a started goroutine has a stack");
    loop {
        let co = coro.as_mut().expect("a started goroutine has a coroutine");
        let result = co.resume(());
        if range.red_zone_damaged() {
            overflow::canary_overflow(g.info(), range.size());
        }
        if run_start != 0 {
            record_run(ctx, std::mem::take(&mut run_start));
        }
        // `blocking` may have moved the goroutine to another P, or left it without one.
        let p = if ctx.p.get() == Some(pid) {
            p
        } else {
            let Some(now) = ctx.p.get() else {
                debug_assert!(matches!(result, CoroutineResult::Yield(Suspend::Requeue)));
                ctx.curg.set(std::ptr::null());
                if trace::on(s) {
                    points::go_stop(ctx, &g, kind::GO_REQUEUE);
                }
                // SAFETY: passing no P.
                unsafe { s.note_runnable(&g, None, false) };
                s.globrunqput_batch(std::iter::once(g));
                // Counted out of `blocking` only now that it is queued (`check_dead`).
                s.nsyscall.fetch_sub(1, SeqCst);
                s.wakep();
                return;
            };
            &s.ps[now]
        };
        // `p.status.curg` keeps pointing at `g` until the next `run` or until the P goes
        // idle (`pidleput`): one store less per switch. Sysmon only acts on a run that
        // lasts, and an M without a goroutine soon runs another one or idles its P.
        match result {
            CoroutineResult::Yield(why @ (Suspend::Yield | Suspend::Preempt)) => {
                ctx.curg.set(std::ptr::null());
                bump(&p.counters.yields);
                if trace::on(s) {
                    let k = match why {
                        Suspend::Preempt => kind::GO_PREEMPTED,
                        _ => kind::GO_YIELD,
                    };
                    points::go_stop(ctx, &g, k);
                }
                // SAFETY: this M holds `p`.
                unsafe {
                    s.note_runnable(&g, Some(p), false);
                    // Every built-in but `global-fifo` yields to the tail: one test.
                    match ctx.decide.yielded {
                        Fixed::LocalTail => s.runqput(p, g, false),
                        // The yielder's own M looks again at once: no wakeup needed.
                        d => s.put(p, g, d, crate::sched::Event::Yielded, false),
                    }
                };
                return;
            }
            CoroutineResult::Yield(Suspend::Park) => {
                // Read before the commit (after it the G may run elsewhere and park
                // again), recorded after it (only if the park happens).
                let (ts, wait) = if trace::on(s) {
                    (points::now(), g.last_wait())
                } else {
                    (0, crate::g::Wait::NONE)
                };
                if g.state.commit_park() {
                    if ts != 0 {
                        points::go_park(ctx, &g, wait, ts);
                    }
                    // The G now belongs to whoever unparks it: touch it no more.
                    ctx.curg.set(std::ptr::null());
                    bump(&p.counters.parks);
                    return;
                }
                // An unpark raced with the park: run the goroutine again at once.
                p.status.run(gp);
            }
            CoroutineResult::Yield(Suspend::Requeue) => {
                unreachable!("a goroutine requeued from `blocking` while its M holds a P")
            }
            CoroutineResult::Return(()) => {
                // Its `GoDone` is already recorded (`points::go_done_here`).
                let stack = coro.take().expect("finished coroutine").into_stack();
                g.set_stack(None);
                // SAFETY: this M holds `p`.
                s.stacks.put(stack, &mut unsafe { p.local() }.stacks);
                return finish(ctx, p, g);
            }
        }
    }
}

/// Records the scheduling latency of a sampled goroutine; returns the run's start.
#[cold]
fn record_latency(p: &P, g: &crate::g::G, ready: u64) -> u64 {
    let now = gort_asm::ticks();
    g.ready_at.store(0, Relaxed);
    p.hist.sched_latency.record(now.saturating_sub(ready));
    now.max(1)
}

/// Records the length of a sampled run (into the P the goroutine ended it on).
#[cold]
fn record_run(ctx: &MContext, start: u64) {
    let ticks = gort_asm::ticks().saturating_sub(start);
    match ctx.p.get() {
        Some(pid) => ctx.sched.ps[pid].hist.run_length.record(ticks),
        None => ctx.sched.unowned_hist.lock().run_length.record(ticks),
    }
}

/// Gives a first-run goroutine its stack and coroutine. False when no stack could be
/// had: the goroutine then completes with that error as its panic.
fn attach_stack(ctx: &MContext, p: &P, g: &GRef, coro: &mut Option<crate::g::GCoroutine>) -> bool {
    let s = &ctx.sched;
    // SAFETY: we own `g`.
    let task = unsafe { g.take_task() }.expect("a new goroutine has a task");
    // SAFETY: this M holds `p`.
    let got = s
        .stacks
        .get(g.info().stack_size, &mut unsafe { p.local() }.stacks);
    match got {
        Ok(stack) => {
            g.set_stack(Some(stack.range()));
            let gp = Arc::as_ptr(g) as usize;
            *coro = Some(Coroutine::with_stack(stack, move |y, ()| {
                // SAFETY: the G owns this coroutine, so it outlives it.
                unsafe { (*(gp as *const crate::g::G)).set_yielder(y) };
                task.run();
            }));
            true
        }
        Err(e) => {
            task.fail(format!(
                "gort: cannot allocate a stack for goroutine {}: {}",
                g.info().id,
                e.0
            ));
            false
        }
    }
}

/// A goroutine has finished: account for it and recycle its G.
fn finish(ctx: &MContext, p: &P, g: GRef) {
    ctx.curg.set(std::ptr::null());
    g.state.kill();
    bump(&p.counters.completed);
    // SAFETY: this M holds `p` and owns the dead `g`.
    unsafe { ctx.sched.gfput(p, g) };
}

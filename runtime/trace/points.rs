//! The trace points: one function per event, called by the scheduler only when a trace
//! is being recorded (`if trace::on(s) { points::... }`), so with tracing off each costs
//! one load and one predictable branch. They are `#[cold]` and out of line to keep
//! the scheduler's hot paths small.

use std::panic::Location;

use super::format::{
    header, kind, NO_P, WAKER_GOROUTINE, WAKER_NETPOLL, WAKER_THREAD, WAKER_TIMER,
};
use super::recorder::{emit, emit_on};
use crate::context::{self, MContext};
use crate::g::{Wait, G};
use crate::sched::Sched;

/// Names longer than this are cut in the trace.
const MAX_NAME: usize = 256;

#[inline(always)]
fn pid(p: Option<usize>) -> u64 {
    p.map_or(NO_P, |p| p as u64)
}

/// A timestamp: the cycle counter, or the virtual clock in simulation (`sim/`).
#[inline(always)]
pub(crate) fn now() -> u64 {
    crate::timer::virtual_trace_tick().unwrap_or_else(gort_asm::ticks)
}

fn site_key(site: &'static Location<'static>) -> u64 {
    site as *const Location<'static> as usize as u64
}

/// A goroutine was spawned (before it is queued, so its start comes after this).
#[cold]
#[inline(never)]
pub(crate) fn go_create(s: &Sched, g: &G, p: Option<usize>) {
    let parent = context::current_g();
    let parent = if parent.is_null() {
        0
    } else {
        // SAFETY: the running goroutine is alive while it runs this; its identity is
        // immutable while it runs.
        unsafe { (*parent).info().id }
    };
    let info = g.info();
    emit(
        s,
        &[
            now(),
            header(kind::GO_CREATE, 0, pid(p), 0),
            info.id,
            parent,
            site_key(info.site),
        ],
    );
    if let Some(name) = &info.name {
        let mut bytes = &name.as_bytes()[..name.len().min(MAX_NAME)];
        let mut rec = vec![
            now(),
            header(kind::GO_NAME, 0, pid(p), bytes.len() as u32),
            info.id,
        ];
        while !bytes.is_empty() {
            let n = bytes.len().min(8);
            let mut w = [0u8; 8];
            w[..n].copy_from_slice(&bytes[..n]);
            rec.push(u64::from_le_bytes(w));
            bytes = &bytes[n..];
        }
        emit(s, &rec);
    }
}

/// `g` starts running on `ctx`'s M and P `p`.
#[cold]
#[inline(never)]
pub(crate) fn go_start(ctx: &MContext, g: &G, p: usize, inherited: bool) {
    let runq = ctx.sched.ps[p].runq.len() as u32;
    emit_on(
        ctx,
        &[
            now(),
            header(kind::GO_START, inherited as u8, p as u64, runq),
            g.info().id,
        ],
    );
}

/// `g`'s run ended with `k` (a yield, a preemption, its end, a requeue).
#[cold]
#[inline(never)]
pub(crate) fn go_stop(ctx: &MContext, g: &G, k: u8) {
    emit_on(
        ctx,
        &[now(), header(k, 0, pid(ctx.p.get()), 0), g.info().id],
    );
}

/// The running goroutine is about to deliver its result (`join.rs`): its run ends
/// `done`, recorded now, before a joiner can wake and stop the trace.
#[inline]
pub(crate) fn go_done_here() {
    let g = context::current_g();
    // SAFETY: a non-null current_g() is the goroutine running this code, alive while it
    // runs.
    if g.is_null() || !super::on(unsafe { &(*g).sched }) {
        return;
    }
    go_done_traced(g);
}

#[cold]
#[inline(never)]
fn go_done_traced(g: *const G) {
    let ctx = context::current();
    if ctx.is_null() {
        return;
    }
    // SAFETY: a non-null current() is this M's live context; `g` is its running
    // goroutine (see `go_done_here`).
    unsafe { go_stop(&*ctx, &*g, super::kind::GO_DONE) };
}

/// `g` parked for `w`; `ts` and `w` were read before the park was committed (the
/// unpark that ends it comes after `ts`; after the commit `g` may run elsewhere and
/// park again). `g`'s id stays: the caller's reference keeps the G from reuse.
#[cold]
#[inline(never)]
pub(crate) fn go_park(ctx: &MContext, g: &G, w: Wait, ts: u64) {
    let site = w.site().map_or(0, site_key);
    let h = header(kind::GO_PARK, w.reason() as u8, pid(ctx.p.get()), 0);
    emit_on(ctx, &[ts, h, g.info().id, site]);
}

/// `g` was made runnable by the calling thread (before it is queued). Who woke it: the
/// goroutine running here; or, on an M's scheduler loop, a timer; or a plain thread.
#[cold]
#[inline(never)]
pub(crate) fn go_unpark(s: &Sched, g: &G) {
    let ctx = context::current();
    // SAFETY: a non-null current() is this M's live context.
    let ctx = (!ctx.is_null()).then(|| unsafe { &*ctx });
    let ctx = ctx.filter(|c| std::ptr::eq(&*c.sched, s));
    let (waker, by, p) = match ctx {
        None => (WAKER_THREAD, 0, None),
        Some(ctx) => {
            let cur = ctx.curg.get();
            let p = ctx.p.get();
            if !cur.is_null() {
                // SAFETY: the running goroutine is alive while it runs this.
                (WAKER_GOROUTINE, unsafe { (*cur).info().id }, p)
            } else if p.is_some() {
                (WAKER_TIMER, 0, p)
            } else {
                (WAKER_THREAD, 0, None)
            }
        }
    };
    emit(
        s,
        &[
            now(),
            header(kind::GO_UNPARK, waker, pid(p), 0),
            g.info().id,
            by,
        ],
    );
}

/// The netpoller made `g` runnable.
#[cold]
#[inline(never)]
pub(crate) fn go_unpark_netpoll(s: &Sched, g: &G) {
    emit(
        s,
        &[
            now(),
            header(kind::GO_UNPARK, WAKER_NETPOLL, NO_P, 0),
            g.info().id,
            0,
        ],
    );
}

/// An event about goroutine `g` (blocking enter/exit, preempt request, hog).
#[cold]
#[inline(never)]
pub(crate) fn go_event(s: &Sched, k: u8, aux: u8, g: u64, p: Option<usize>, arg: u32) {
    emit(s, &[now(), header(k, aux, pid(p), arg), g]);
}

/// An event without a goroutine (steal, counts, M and P transitions).
#[cold]
#[inline(never)]
pub(crate) fn event(s: &Sched, k: u8, aux: u8, p: Option<usize>, arg: u32) {
    emit(s, &[now(), header(k, aux, pid(p), arg)]);
}

/// The same, made on `ctx`'s M.
#[cold]
#[inline(never)]
pub(crate) fn event_on(ctx: &MContext, k: u8, aux: u8, p: Option<usize>, arg: u32) {
    emit_on(ctx, &[now(), header(k, aux, pid(p), arg)]);
}

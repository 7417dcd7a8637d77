//! sysmon: one thread per runtime, without a P (Go's `sysmon`). Each tick it
//!
//! 1. retakes Ps from Ms blocked in [`blocking`](crate::blocking) calls that have lasted
//!    at least one tick while there is other work (or for 10 ms regardless), and hands
//!    them to other Ms (`handoffp`);
//! 2. asks a goroutine that has run past the hog threshold without a scheduling point to
//!    yield at its next one (`preempt.rs`), and reports it on stderr once per episode if
//!    it has still not reached one a threshold later;
//! 3. polls the network if goroutines wait for I/O and nobody has polled for 10 ms (every
//!    P busy, so no M gets to `find_runnable`'s poll);
//! 4. prints the schedtrace when one is due (`schedtrace.rs`).
//!
//! It sleeps 20 µs between ticks, doubling up to 10 ms after 50 ticks without work, as
//! Go's does (never past the next schedtrace line); a shutdown wakes it at once. A run is
//! one value of a P's switch counter with a goroutine on it (`p.rs`).

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::metrics::add;
use crate::p::{PStatus, SYSCALL_IN};
use crate::sched::Sched;
use crate::schedtrace::SchedTrace;
use crate::timer;

const MIN_DELAY: Duration = Duration::from_micros(20);
const MAX_DELAY: Duration = Duration::from_millis(10);
/// A blocked call this old loses its P even when nothing else seems to need it.
const SYSCALL_FORCE: Duration = Duration::from_millis(10);
/// Sysmon polls the network when nobody has for this long.
const POLL_STALE: Duration = Duration::from_millis(10);

/// Wakes sysmon for shutdown.
#[derive(Default)]
pub(crate) struct SysmonWake {
    stop: Mutex<bool>,
    cv: Condvar,
}

impl SysmonWake {
    pub(crate) fn stop(&self) {
        *self.stop.lock() = true;
        self.cv.notify_all();
    }

    /// Sleeps `d`; false once told to stop.
    fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.stop.lock();
        if !*stop {
            self.cv.wait_for(&mut stop, d);
        }
        !*stop
    }
}

/// What sysmon saw of one P at its last look.
#[derive(Default, Clone, Copy)]
struct Seen {
    run_seq: u64,
    /// When this run was first seen (its length is known to be at least now - since).
    since: Option<Instant>,
    asked: bool,
    reported: bool,
    syscall: u64,
    syscall_since: Option<Instant>,
    /// CPU time of the P's thread when it was asked to yield.
    cpu_at_ask: Option<Duration>,
}

/// Whether the goroutine burned a whole `threshold` of CPU since it was asked to yield:
/// wall time alone would also count time its thread spent descheduled by the OS.
fn burned(p: &crate::p::P, seen: &Seen, threshold: Duration) -> bool {
    match (seen.cpu_at_ask, cpu_time(p.status.cpu_clock.load(Relaxed))) {
        (Some(then), Some(now)) => now.saturating_sub(then) >= threshold,
        _ => true, // no CPU clock: trust wall time
    }
}

/// CPU time consumed by the thread of `clock` (`None` if unknown, or the thread exited).
fn cpu_time(clock: libc::clockid_t) -> Option<Duration> {
    if clock == crate::context::NO_CLOCK {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec to a live local.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

pub(crate) fn sysmon_main(s: Arc<Sched>) {
    let mut seen = vec![Seen::default(); s.ps.len()];
    let mut delay = MIN_DELAY;
    let mut idle_ticks = 0u32;
    let mut trace = SchedTrace::new(&s);
    while s.sysmon_wake.sleep(trace.cap(delay)) {
        if s.shutdown.load(SeqCst) {
            break;
        }
        let now = Instant::now();
        let mut worked = retake(&s, &mut seen, now);
        watch_hogs(&s, &mut seen, now);
        worked |= poll_if_stale(&s);
        if worked {
            idle_ticks = 0;
            delay = MIN_DELAY;
        } else {
            idle_ticks += 1;
            if idle_ticks > 50 {
                delay = (delay * 2).min(MAX_DELAY);
            }
        }
        trace.tick(&s);
    }
}

/// Go's `retake` for Ps in syscalls. Returns true if it handed one off.
fn retake(s: &Arc<Sched>, seen: &mut [Seen], now: Instant) -> bool {
    let mut handed = false;
    for (pid, p) in s.ps.iter().enumerate() {
        let w = p.status.syscall.load(SeqCst);
        let seen = &mut seen[pid];
        if PStatus::state(w) != SYSCALL_IN {
            seen.syscall_since = None;
            continue;
        }
        if seen.syscall != w || seen.syscall_since.is_none() {
            // A new call: give it one tick before taking its P.
            seen.syscall = w;
            seen.syscall_since = Some(now);
            continue;
        }
        let long = seen.syscall_since.is_some_and(|t| now - t >= SYSCALL_FORCE);
        let others_can_run = s.nmspinning.load(SeqCst) + s.npidle.load(SeqCst) > 0;
        if p.runq.is_empty() && s.global_len() == 0 && others_can_run && !long {
            continue; // nothing waits that an idle P or spinning M would not pick up
        }
        if s.threads_refused.load(Relaxed) && s.lock.lock().idle_ms.is_empty() {
            continue; // no M could take the P: leave it with its goroutine
        }
        if p.status.retake(w) {
            seen.syscall_since = None;
            add(&s.syscall_handoffs, 1);
            if crate::trace::on(s) {
                crate::trace::points::event(s, crate::trace::kind::HANDOFF, 0, Some(pid), 0);
            }
            s.handoffp(pid);
            handed = true;
        }
    }
    handed
}

/// Flags goroutines running past the hog threshold; reports those that ignore the flag.
fn watch_hogs(s: &Sched, seen: &mut [Seen], now: Instant) {
    let threshold = s.config.hog_threshold;
    for (pid, p) in s.ps.iter().enumerate() {
        let seen = &mut seen[pid];
        let g = p.status.curg.load(Relaxed);
        let seq = p.counters.switches.load(Relaxed);
        if g.is_null() {
            // Idle; or inside `blocking`, where the run goes on once the call returns on
            // the same P (the switch count tells) and only the P's handoff is sysmon's
            // business meanwhile.
            if PStatus::state(p.status.syscall.load(Relaxed)) != SYSCALL_IN {
                seen.since = None;
            }
            continue;
        }
        if seen.since.is_none() || seen.run_seq != seq {
            *seen = Seen {
                run_seq: seq,
                since: Some(now),
                ..*seen
            };
            seen.asked = false;
            seen.reported = false;
            continue;
        }
        let ran = now - seen.since.expect("set above");
        if ran >= threshold && !seen.asked {
            seen.asked = true;
            seen.cpu_at_ask = cpu_time(p.status.cpu_clock.load(Relaxed));
            p.status.preempt.store(true, Relaxed);
            add(&s.preempt_requests, 1);
            if crate::trace::on(s) {
                // SAFETY: as for the report below.
                let id = unsafe { (*g).with_identity(|i| i.id) };
                let k = crate::trace::kind::PREEMPT_REQUEST;
                crate::trace::points::go_event(s, k, 0, id, Some(pid), 0);
            }
        } else if ran >= 2 * threshold && !seen.reported && burned(p, seen, threshold) {
            seen.reported = true;
            add(&s.hogs, 1);
            if crate::trace::on(s) {
                // SAFETY: as for the report below.
                let id = unsafe { (*g).with_identity(|i| i.id) };
                let ms = ran.as_millis().min(u32::MAX as u128) as u32;
                crate::trace::points::go_event(s, crate::trace::kind::HOG, 0, id, Some(pid), ms);
            }
            if s.config.hog_warning {
                // SAFETY: Gs are kept in `allgs` until shutdown, which stops sysmon
                // first, so the pointer stays valid; `info_snapshot` takes the info lock
                // that dumps from other threads also take.
                let (id, name, site) = unsafe { (*g).info_snapshot() };
                let name = name.map(|n| format!(" {n:?}")).unwrap_or_default();
                eprintln!(
                    "gort: goroutine {id}{name} (spawned at {site}) has run for {} ms \
                     without a scheduling point; other goroutines on its P are stalled \
                     (call gort::checkpoint() in long loops, or gort::blocking for \
                     blocking calls)",
                    ran.as_millis()
                );
            }
        }
    }
}

/// Polls the network if goroutines wait for I/O and nobody has polled lately.
fn poll_if_stale(s: &Arc<Sched>) -> bool {
    if !s.io_waiters() || s.polling_now.load(SeqCst) {
        return false;
    }
    let last = s.last_poll.load(Relaxed);
    if timer::now_ns().saturating_sub(last) < POLL_STALE.as_nanos() as u64 {
        return false;
    }
    s.injecting.fetch_add(1, SeqCst);
    let gs = s.netpoll(Some(Duration::ZERO));
    let found = !gs.is_empty();
    // SAFETY: passing no P.
    unsafe { s.inject(gs, None) };
    s.injecting.fetch_sub(1, SeqCst);
    found
}

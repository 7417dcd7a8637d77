//! The M a thread is, reachable from a thread-local: which runtime, which P, which G.
//!
//! Goroutines migrate between OS threads at every scheduling point, and LLVM may keep a
//! thread-local's address computed before a context switch and reuse it after the
//! goroutine has moved to another M. So the accessors here are `#[inline(never)]`, return
//! raw pointers, and callers re-read them after every switch; no reference into the
//! thread-local lives across one.

use std::cell::Cell;
use std::sync::Arc;

use crate::g::G;
use crate::m::M;
use crate::sched::Sched;

/// State of the M running on this thread. It lives on the M thread's native stack for
/// the thread's whole life, and only that thread touches the `Cell`s.
pub(crate) struct MContext {
    pub(crate) sched: Arc<Sched>,
    pub(crate) m: Arc<M>,
    /// Index of the P this M holds.
    pub(crate) p: Cell<Option<usize>>,
    pub(crate) spinning: Cell<bool>,
    /// The goroutine this M is running (null on the scheduler loop).
    pub(crate) curg: Cell<*const G>,
    rng: Cell<u64>,
    /// This thread's CPU-time clock, so sysmon can tell a goroutine that burns CPU from
    /// one whose thread the OS has descheduled.
    pub(crate) cpu_clock: libc::clockid_t,
    /// The quantum in cycle-counter ticks (0: off) and when the current run's ends
    /// (`preempt.rs`).
    pub(crate) quantum_ticks: u64,
    pub(crate) slice_end: Cell<u64>,
    /// Chaos generator state; 0 when chaos is off (`chaos.rs`).
    pub(crate) chaos: Cell<u64>,
    /// This M's trace buffer (`trace/recorder.rs`).
    pub(crate) trace: Arc<crate::trace::recorder::MTrace>,
    /// The policy's per-event decisions, resolved at build (`policy/`); a copy per M,
    /// next to the other fields the switch path reads.
    pub(crate) decide: crate::policy::Decisions,
}

impl MContext {
    pub(crate) fn new(sched: Arc<Sched>, m: Arc<M>) -> Self {
        let seed = (m.id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ gort_asm::ticks();
        let trace = crate::trace::recorder::MTrace::register(&sched, m.id);
        let chaos = crate::chaos::seed_for_m(sched.config.chaos, m.id);
        // The cycle counter would make a simulated schedule depend on the machine.
        let quantum_ticks = match sched.config.simulate {
            Some(_) => 0,
            None => sched.config.quantum.map_or(0, gort_asm::duration_to_ticks),
        };
        MContext {
            decide: sched.config.policy.fixed(),
            quantum_ticks,
            slice_end: Cell::new(u64::MAX),
            chaos: Cell::new(chaos),
            sched,
            m,
            trace,
            p: Cell::new(None),
            spinning: Cell::new(false),
            curg: Cell::new(std::ptr::null()),
            rng: Cell::new(seed | 1),
            cpu_clock: thread_cpu_clock(),
        }
    }

    /// Seeds the victim-choice generator (simulation: one seed, one schedule).
    pub(crate) fn reseed(&self, seed: u64) {
        self.rng.set(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    }

    /// A fast per-M random number (xorshift64*); for victim selection, not security.
    pub(crate) fn rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The calling thread's CPU-time clock id (`CLOCK_THREAD_CPUTIME_ID` is only valid for
/// the calling thread; this one can be read from others).
fn thread_cpu_clock() -> libc::clockid_t {
    let mut id: libc::clockid_t = 0;
    // SAFETY: writes one clockid_t to a live local for the calling thread.
    if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) } != 0 {
        return NO_CLOCK;
    }
    id
}

/// No CPU clock: sysmon then trusts wall time.
pub(crate) const NO_CLOCK: libc::clockid_t = libc::clockid_t::MIN;

thread_local! {
    static CURRENT: Cell<*const MContext> = const { Cell::new(std::ptr::null()) };
    /// Set while the runtime drops parked goroutines at shutdown: gort calls made by
    /// their destructors return at once instead of parking.
    static TEARDOWN: Cell<bool> = const { Cell::new(false) };
}

/// Installs (or with null, removes) this thread's M.
pub(crate) fn set_current(ctx: *const MContext) {
    CURRENT.with(|c| c.set(ctx));
}

/// This thread's M, or null on a plain thread.
#[inline(never)]
pub(crate) fn current() -> *const MContext {
    CURRENT.with(|c| c.get())
}

/// The goroutine running on this thread, or null.
#[inline(never)]
pub(crate) fn current_g() -> *const G {
    curg()
}

/// The body of `current_g`, inlined into the non-inlined accessors that need it.
#[inline(always)]
fn curg() -> *const G {
    CURRENT.with(|c| {
        let ctx = c.get();
        if ctx.is_null() {
            return std::ptr::null();
        }
        // SAFETY: a non-null CURRENT points to the MContext on this M's own stack, alive
        // for as long as the thread runs the scheduler loop.
        unsafe { (*ctx).curg.get() }
    })
}

/// Who is calling a blocking or yielding gort function.
pub(crate) enum Caller {
    /// Destructors run by a runtime's teardown: never block, never switch.
    Teardown,
    /// A plain thread (or an M's scheduler loop).
    Thread,
    /// This goroutine.
    Goroutine(*const G),
}

/// Classifies the caller with one call (this sits on the yield and park paths).
#[inline(never)]
pub(crate) fn caller() -> Caller {
    if TEARDOWN.with(|t| t.get()) {
        return Caller::Teardown;
    }
    let g = curg();
    if g.is_null() {
        Caller::Thread
    } else {
        Caller::Goroutine(g)
    }
}

/// The runtime of the goroutine running on this thread.
pub(crate) fn current_sched() -> Option<Arc<Sched>> {
    let ctx = current();
    if ctx.is_null() {
        return None;
    }
    // SAFETY: as in `current_g`.
    Some(unsafe { (*ctx).sched.clone() })
}

#[inline(never)]
pub(crate) fn in_teardown() -> bool {
    TEARDOWN.with(|t| t.get())
}

#[inline(never)]
pub(crate) fn set_teardown(on: bool) {
    TEARDOWN.with(|t| t.set(on));
}

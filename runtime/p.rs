//! P: a processor, the right to run goroutines (Go's `p`).
//!
//! A P owns a local run queue (shared with thieves), and owner-only state: the scheduler
//! tick, the current time slice, caches of free Gs and stacks, and a block of goroutine
//! ids. The owner is the one M that holds the P; Ps move between Ms only through the
//! scheduler lock (`Sched::pidleput`/`pidleget`), which orders the handoff.

use std::cell::UnsafeCell;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize};

use crossbeam_utils::CachePadded;

use crate::g::{GRef, G};
use crate::histogram::PHistograms;
use crate::metrics::PCounters;
use crate::runq::LocalQueue;
use crate::stack::GoStack;
use crate::timer::Timers;

/// Free Gs a P keeps before moving half of them to the global list (Go: 64).
pub(crate) const P_GFREE_MAX: usize = 64;
/// Goroutine ids a P reserves at once, so spawns do not contend on one counter (Go: 16).
pub(crate) const GOID_BATCH: u64 = 16;

pub(crate) struct P {
    pub(crate) id: usize,
    pub(crate) runq: CachePadded<LocalQueue<G>>,
    /// Timers of goroutines that slept or waited with a deadline on this P.
    pub(crate) timers: CachePadded<Timers>,
    local: UnsafeCell<PLocal>,
    pub(crate) counters: CachePadded<PCounters>,
    /// What sysmon watches: the running goroutine, syscalls, the preempt request.
    pub(crate) status: CachePadded<PStatus>,
    /// Scheduling latency, run length and park duration, written by the P's M.
    pub(crate) hist: Box<PHistograms>,
    /// Goroutines a policy placed on this P from elsewhere (`Place::P`); the queue itself
    /// is in `Sched::lock` (`Locked::inboxes`), this is its length for lock-free peeks.
    pub(crate) inbox_len: AtomicUsize,
}

/// A P's state as seen from sysmon. Written by the owning M at each switch and around
/// `blocking`; read (and the syscall word CASed) by sysmon.
pub(crate) struct PStatus {
    /// The goroutine running on this P (null: idle, or in a `blocking` call). Sysmon
    /// pairs it with `counters.switches`: an unchanged count between two looks means
    /// one goroutine ran all along.
    pub(crate) curg: AtomicPtr<G>,
    /// `seq << 2 | state`, state one of `SYSCALL_*`. A sequence per `blocking` call lets
    /// the returning M's CAS fail if sysmon retook the P, even if the P has since entered
    /// another `blocking` call on another M.
    pub(crate) syscall: AtomicU64,
    /// Sysmon asks the running goroutine to yield at its next scheduling point.
    pub(crate) preempt: AtomicBool,
    /// CPU-time clock of the M holding this P (`context.rs`), for hog reports.
    pub(crate) cpu_clock: std::sync::atomic::AtomicI32,
}

pub(crate) const SYSCALL_NONE: u64 = 0;
pub(crate) const SYSCALL_IN: u64 = 1;
pub(crate) const SYSCALL_RETAKEN: u64 = 2;

impl PStatus {
    /// A goroutine starts running on this P (the caller counts the switch).
    #[inline]
    pub(crate) fn run(&self, g: *const G) {
        self.curg.store(g as *mut G, Relaxed);
        if self.preempt.load(Relaxed) {
            self.preempt.store(false, Relaxed);
        }
    }

    /// The owner enters `blocking`: returns the word to hand to `exit_syscall`.
    pub(crate) fn enter_syscall(&self) -> u64 {
        self.curg.store(std::ptr::null_mut(), Relaxed);
        let w = ((self.syscall.load(Relaxed) >> 2) + 1) << 2 | SYSCALL_IN;
        // Release: sysmon's acquire CAS sees the P's queues as this M left them.
        self.syscall.store(w, std::sync::atomic::Ordering::Release);
        w
    }

    /// The M returns from `blocking`: true if the P is still its own.
    pub(crate) fn exit_syscall(&self, w: u64) -> bool {
        self.syscall
            .compare_exchange(w, (w & !3) | SYSCALL_NONE, AcqRel, Acquire)
            .is_ok()
    }

    /// Sysmon takes the P from an M blocked in `w`; true if it did.
    pub(crate) fn retake(&self, w: u64) -> bool {
        self.syscall
            .compare_exchange(w, (w & !3) | SYSCALL_RETAKEN, AcqRel, Acquire)
            .is_ok()
    }

    /// The state bits of a syscall word.
    pub(crate) fn state(w: u64) -> u64 {
        w & 3
    }
}

/// Owner-only state of a P.
pub(crate) struct PLocal {
    /// Goroutines run with a fresh time slice (not inherited through `runnext`).
    pub(crate) schedtick: u32,
    /// Ticks until the next global-queue fairness check (Go's `schedtick % 61`,
    /// counted down to avoid a division per switch).
    pub(crate) fair_countdown: u32,
    /// `gort_asm::ticks()` when the current time slice began; 0 until the first
    /// `runnext` put of the slice needs it (reading the clock costs, so it is lazy).
    pub(crate) slice_start: u64,
    pub(crate) gfree: Vec<GRef>,
    pub(crate) stacks: Vec<GoStack>,
    pub(crate) goid_next: u64,
    pub(crate) goid_end: u64,
    /// Counts runnable transitions made on this P; one in `latency_sampling` is timed.
    pub(crate) sample: u32,
    /// Runs taken from `runnext` since the fresh run at `streak_tick` (for the policy's
    /// `runnext_limit`).
    pub(crate) runnext_streak: u32,
    pub(crate) streak_tick: u32,
}

// SAFETY: `local` is accessed only by the M holding the P (see module doc); everything
// else is Sync.
unsafe impl Sync for P {}

impl P {
    /// Goroutines waiting in this P's inbox (a moment stale).
    #[inline]
    pub(crate) fn inbox_len(&self) -> usize {
        self.inbox_len.load(Relaxed)
    }

    pub(crate) fn new(id: usize, queue_capacity: usize) -> P {
        P {
            id,
            runq: CachePadded::new(LocalQueue::new(queue_capacity)),
            timers: CachePadded::new(Timers::new()),
            local: UnsafeCell::new(PLocal {
                schedtick: 0,
                fair_countdown: 0,
                slice_start: 0,
                gfree: Vec::new(),
                stacks: Vec::new(),
                goid_next: 0,
                goid_end: 0,
                sample: 0,
                runnext_streak: 0,
                streak_tick: 0,
            }),
            counters: CachePadded::new(PCounters::default()),
            status: CachePadded::new(PStatus {
                curg: AtomicPtr::new(std::ptr::null_mut()),
                cpu_clock: std::sync::atomic::AtomicI32::new(crate::context::NO_CLOCK),
                syscall: AtomicU64::new(SYSCALL_NONE),
                preempt: AtomicBool::new(false),
            }),
            hist: Box::new(PHistograms::new()),
            inbox_len: AtomicUsize::new(0),
        }
    }

    /// # Safety
    /// The caller is the M holding this P (or has exclusive access at shutdown), and no
    /// other reference from `local` is alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn local(&self) -> &mut PLocal {
        // SAFETY: per the contract.
        unsafe { &mut *self.local.get() }
    }
}

//! P: a processor, the right to run goroutines (Go's `p`).
//!
//! A P owns a local run queue (shared with thieves), and owner-only state: the scheduler
//! tick, the current time slice, caches of free Gs and stacks, and a block of goroutine
//! ids. The owner is the one M that holds the P; Ps move between Ms only through the
//! scheduler lock (`Sched::pidleput`/`pidleget`), which orders the handoff.

use std::cell::UnsafeCell;

use crossbeam_utils::CachePadded;

use crate::g::{GRef, G};
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
}

// SAFETY: `local` is accessed only by the M holding the P (see module doc); everything
// else is Sync.
unsafe impl Sync for P {}

impl P {
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
            }),
            counters: CachePadded::new(PCounters::default()),
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

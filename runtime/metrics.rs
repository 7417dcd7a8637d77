//! Scheduler counters: per P from the start, summed on demand by [`metrics`].
//!
//! Each P's counters are written only by the M holding that P (a load and a store, no
//! locked instruction) and read by anyone with relaxed loads, so a snapshot is exact for
//! a quiet runtime and a close approximation for a busy one.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::context;
use crate::histogram::{Histogram, PHistograms};
use crate::sched::Sched;
use crate::stack::StackGuard;

/// One P's event counts (each a running total since the runtime started).
#[derive(Default)]
pub(crate) struct PCounters {
    pub(crate) spawned: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) switches: AtomicU64,
    pub(crate) yields: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) stolen: AtomicU64,
    pub(crate) global_pulls: AtomicU64,
    pub(crate) overflows: AtomicU64,
    pub(crate) spins: AtomicU64,
    pub(crate) runnext_runs: AtomicU64,
    pub(crate) syscall_reacquires: AtomicU64,
}

/// Adds one to a counter that only the current thread writes.
#[inline]
pub(crate) fn bump(c: &AtomicU64) {
    add(c, 1);
}

#[inline]
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed) + n, Relaxed);
}

/// Counters of one P, as read by [`metrics`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcMetrics {
    /// Goroutines spawned by goroutines running on this P.
    pub spawned: u64,
    /// Goroutines that finished on this P.
    pub completed: u64,
    /// Times a goroutine was switched to (context switches into goroutines).
    pub switches: u64,
    /// `yield_now` calls.
    pub yields: u64,
    /// Parks that put a goroutine to sleep.
    pub parks: u64,
    /// Successful steals by this P (batches).
    pub steals: u64,
    /// Goroutines this P stole.
    pub stolen: u64,
    /// Goroutines this P took from the global queue.
    pub global_pulls: u64,
    /// Times this P's full run queue spilled half of itself to the global queue.
    pub overflows: u64,
    /// Times an M holding this P started spinning.
    pub spins: u64,
    /// Goroutines run from the `runnext` slot (sharing the current time slice).
    pub runnext_runs: u64,
    /// Goroutines back from a `blocking` call whose P had been handed off, that got this
    /// P (Go's `exitsyscall` slow path).
    pub syscall_reacquires: u64,
}

impl ProcMetrics {
    fn read(c: &PCounters) -> Self {
        ProcMetrics {
            spawned: c.spawned.load(Relaxed),
            completed: c.completed.load(Relaxed),
            switches: c.switches.load(Relaxed),
            yields: c.yields.load(Relaxed),
            parks: c.parks.load(Relaxed),
            steals: c.steals.load(Relaxed),
            stolen: c.stolen.load(Relaxed),
            global_pulls: c.global_pulls.load(Relaxed),
            overflows: c.overflows.load(Relaxed),
            spins: c.spins.load(Relaxed),
            runnext_runs: c.runnext_runs.load(Relaxed),
            syscall_reacquires: c.syscall_reacquires.load(Relaxed),
        }
    }

    fn add(&mut self, o: &ProcMetrics) {
        self.spawned += o.spawned;
        self.completed += o.completed;
        self.switches += o.switches;
        self.yields += o.yields;
        self.parks += o.parks;
        self.steals += o.steals;
        self.stolen += o.stolen;
        self.global_pulls += o.global_pulls;
        self.overflows += o.overflows;
        self.spins += o.spins;
        self.runnext_runs += o.runnext_runs;
        self.syscall_reacquires += o.syscall_reacquires;
    }
}

/// A snapshot of a runtime's counters and gauges.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Per-P counters, indexed by P id.
    pub procs: Vec<ProcMetrics>,
    /// The sum over all Ps, plus goroutines spawned from plain threads.
    pub total: ProcMetrics,
    /// Goroutines spawned and not yet finished.
    pub live_goroutines: u64,
    /// Goroutines in the global run queue.
    pub global_queue_len: usize,
    /// OS threads (Ms) alive now (sysmon not counted).
    pub threads: usize,
    /// Ms parked in the idle list (not running, not polling, not in `blocking`).
    pub idle_threads: usize,
    /// Goroutines inside a `blocking` call now.
    pub in_blocking: usize,
    /// Ps sysmon took from Ms blocked in `blocking` calls and handed to other Ms.
    pub syscall_handoffs: u64,
    /// Times sysmon asked a long-running goroutine to yield.
    pub preempt_requests: u64,
    /// Goroutines reported as hogs (ran past twice the hog threshold without yielding).
    pub hogs: u64,
    /// Goroutines parked waiting for socket readiness now.
    pub io_waiters: usize,
    /// Goroutines the netpoller made runnable.
    pub netpoll_woken: u64,
    /// Scheduling latency: from becoming runnable (spawned, woken, yielded, I/O ready)
    /// to running, sampled (`Builder::latency_sampling`). gort's event-loop lag.
    pub sched_latency: Histogram,
    /// Run length: from a switch into a goroutine to its next scheduling point (sampled).
    pub run_length: Histogram,
    /// Park duration: from a park to the wake that ends it (sampled).
    pub park_duration: Histogram,
    /// Ps without an M.
    pub idle_procs: usize,
    /// Ms currently spinning.
    pub spinning_threads: usize,
    /// How the most recently allocated stack is guarded (`None` before the first).
    pub stack_guard: Option<StackGuard>,
    /// Stacks carved from slabs (fresh, not reused).
    pub stacks_allocated: usize,
    /// Slabs of stack address space mapped.
    pub stack_slabs: usize,
    /// Stacks whose pages were given back when they went to the global pool.
    pub stacks_trimmed: u64,
}

impl Sched {
    pub(crate) fn metrics(&self) -> Metrics {
        let procs: Vec<ProcMetrics> = self
            .ps
            .iter()
            .map(|p| ProcMetrics::read(&p.counters))
            .collect();
        let mut total = ProcMetrics::default();
        for p in &procs {
            total.add(p);
        }
        total.spawned += self.external_spawns.load(Relaxed);
        let stack_guard = match self.stacks.regime.load(Relaxed) {
            1 => Some(StackGuard::GuardInstall),
            2 => Some(StackGuard::Mprotect),
            3 => Some(StackGuard::Canary),
            _ => None,
        };
        let (mut sched_latency, mut run_length, mut park_duration) = Default::default();
        let mut merge = |h: &PHistograms| {
            h.sched_latency.merge_into(&mut sched_latency);
            h.run_length.merge_into(&mut run_length);
            h.park_duration.merge_into(&mut park_duration);
        };
        for p in self.ps.iter() {
            merge(&p.hist);
        }
        merge(&self.unowned_hist.lock());
        Metrics {
            sched_latency,
            run_length,
            park_duration,
            live_goroutines: total.spawned.saturating_sub(total.completed),
            procs,
            total,
            global_queue_len: self.global_len(),
            threads: self.thread_count(),
            idle_threads: self.lock.lock().idle_ms.len(),
            in_blocking: self.nsyscall.load(Relaxed),
            syscall_handoffs: self.syscall_handoffs.load(Relaxed),
            preempt_requests: self.preempt_requests.load(Relaxed),
            hogs: self.hogs.load(Relaxed),
            io_waiters: self.netpoll.get().map_or(0, |p| p.waiters()),
            netpoll_woken: self.netpoll_woken.load(Relaxed),
            idle_procs: self.npidle.load(Relaxed),
            spinning_threads: self.nmspinning.load(Relaxed),
            stack_guard,
            stacks_allocated: self.stacks.stats.carved.load(Relaxed),
            stack_slabs: self.stacks.stats.slabs.load(Relaxed),
            stacks_trimmed: self.stacks.stats.trimmed.load(Relaxed),
        }
    }
}

/// Counters of the runtime the caller runs on.
///
/// # Panics
/// Outside a goroutine (use [`Runtime::metrics`](crate::Runtime::metrics) there).
pub fn metrics() -> Metrics {
    match context::current_sched() {
        Some(s) => s.metrics(),
        None => panic!(
            "gort::metrics() called outside a goroutine: call it inside gort::run or \
             Runtime::block_on, or use Runtime::metrics()"
        ),
    }
}

//! Sched: one runtime's scheduler state (Go's `schedt`): the global run queue, the idle
//! P and M lists under one lock, the spinning count, and the helpers that make a
//! goroutine runnable and wake an M for it (`ready`, `wakep`, `startm`).
//!
//! Worker wakeup (Go's "Worker thread parking/unparking", proc.go header): we want
//! enough running Ms to use the Ps, but not to burn CPU parking and unparking them. An
//! M looking for work without having found any is *spinning*. New work wakes an M only
//! if there is an idle P and no M spinning (`wakep`), and a spinning M that finds work
//! wakes the next one before running it. The M that stops spinning without work must
//! decrement `nmspinning` *before* re-checking every queue (`schedule.rs`): a producer
//! that pushed work and then saw `nmspinning > 0` skipped the wakeup, so the re-check is
//! what finds its work. Both sides use SeqCst (push; load count / store count; re-check).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::chaos::Placement;
use crate::config::{Config, SpinningLimit};
use crate::context::{self, MContext};
use crate::g::{GRef, G};
use crate::histogram::PHistograms;
use crate::m::{self, M};
use crate::metrics::{add, bump};
use crate::p::{GOID_BATCH, P, P_GFREE_MAX};
use crate::policy::{Fixed, Place, View};
use crate::runq::Overflow;
use crate::stack::StackPool;
use crate::trace::{self, kind, points};

/// Which decision a runnable goroutine's placement is (for a policy that is asked).
#[derive(Clone, Copy)]
pub(crate) enum Event {
    Spawned,
    /// `next`: false for batches whose order must be kept (never `runnext`).
    Woken {
        next: bool,
    },
    Yielded,
}

/// State guarded by the scheduler lock.
pub(crate) struct Locked {
    global: VecDeque<GRef>,
    /// Per-P inboxes for `Place::P` (lengths mirrored in `P::inbox_len`).
    pub(crate) inboxes: Vec<VecDeque<GRef>>,
    pub(crate) idle_ps: Vec<usize>,
    pub(crate) idle_ms: Vec<Arc<M>>,
    /// The idle M sleeping until the earliest timer, and that deadline.
    pub(crate) timer_m: Option<Arc<M>>,
    pub(crate) timer_deadline: u64,
    /// An M is blocked in the netpoller (`netpoll.rs`), until this deadline at most.
    pub(crate) polling: bool,
    pub(crate) poll_deadline: u64,
}

pub(crate) struct Sched {
    pub(crate) config: Config,
    pub(crate) ps: Box<[P]>,
    pub(crate) lock: Mutex<Locked>,
    /// Length of the global queue, readable without the lock.
    global_len: AtomicUsize,
    pub(crate) npidle: AtomicUsize,
    /// Whether an idle M may steal (stealing on, spinning allowed): only then is a
    /// goroutine put in a P's own queue worth waking an M for.
    pub(crate) thieves: bool,
    /// A simulation's virtual time between `block_on` calls (ns; 0: not started).
    pub(crate) sim_clock: AtomicU64,
    /// The last simulated run's schedule hash and step count.
    pub(crate) sim_hash: AtomicU64,
    pub(crate) sim_steps: AtomicU64,
    pub(crate) nmspinning: AtomicUsize,
    pub(crate) shutdown: AtomicBool,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    next_mid: AtomicUsize,
    /// Every G ever allocated (Go's `allgs`): shutdown drops their coroutines.
    pub(crate) allgs: Mutex<Vec<GRef>>,
    gfree: Mutex<Vec<GRef>>,
    next_goid: AtomicU64,
    pub(crate) stacks: StackPool,
    /// Goroutines spawned from plain threads (not counted by any P).
    pub(crate) external_spawns: AtomicU64,
    /// Wakes and spawns done by plain threads (besides `block_on`'s main goroutine):
    /// while zero, nothing outside the runtime has shown it can wake a goroutine.
    pub(crate) external_wakes: AtomicU64,
    /// The deadlock report, once `check_dead` found one.
    pub(crate) deadlock: Mutex<Option<String>>,
    /// Threads waiting in `block_on`, woken when a deadlock is found.
    pub(crate) blockers: Mutex<Vec<std::thread::Thread>>,
    /// Strides coprime to `procs`, for `VictimOrder::RandomCoprime`.
    pub(crate) coprimes: Vec<usize>,
    slice_ticks: u64,
    /// The netpoller, created with the first socket (`netpoll.rs`).
    pub(crate) netpoll: std::sync::OnceLock<Arc<gort_netpoll::Poller>>,
    pub(crate) netpoll_init: Mutex<()>,
    /// When the network was last polled (timer clock, ns): sysmon polls after 10 ms.
    pub(crate) last_poll: AtomicU64,
    /// Goroutines made runnable by the netpoller.
    pub(crate) netpoll_woken: AtomicU64,
    /// An M is blocked in the netpoller (mirror of `Locked::polling` for sysmon).
    pub(crate) polling_now: AtomicBool,
    /// Sysmon is between taking goroutines from the poller and queueing them (they are
    /// in no queue and not counted as I/O waiters: no deadlock while nonzero).
    pub(crate) injecting: AtomicUsize,
    /// Goroutines inside `blocking` (not parked, so no deadlock while nonzero).
    pub(crate) nsyscall: AtomicUsize,
    /// Live M threads, and whether the thread cap was reported.
    pub(crate) nthreads: AtomicUsize,
    thread_cap_warned: AtomicBool,
    /// The OS refused the last new M (cleared by the next success): sysmon then leaves
    /// Ps with their goroutines in `blocking`, which run on their own Ms meanwhile.
    pub(crate) threads_refused: AtomicBool,
    thread_refusal_warned: AtomicBool,
    pub(crate) sysmon_wake: crate::sysmon::SysmonWake,
    sysmon_started: std::sync::Once,
    /// Ps sysmon took from Ms blocked in `blocking`.
    pub(crate) syscall_handoffs: AtomicU64,
    /// Preempt requests sysmon made, and hogs it reported.
    pub(crate) preempt_requests: AtomicU64,
    pub(crate) hogs: AtomicU64,
    /// Sampling counter and histograms for transitions made without a P (plain threads,
    /// the poll M, sysmon).
    sample: AtomicU64,
    /// `latency_sampling - 1` (a power of two minus one).
    sample_mask: u32,
    pub(crate) unowned_hist: Mutex<PHistograms>,
    /// Execution tracing (`trace/`).
    pub(crate) trace: crate::trace::recorder::TraceState,
}

impl Sched {
    pub(crate) fn new(config: Config, stacks: StackPool) -> Sched {
        let n = config.procs;
        let coprimes = (1..=n).filter(|&i| gcd(i, n) == 1).collect();
        Sched {
            ps: (0..n)
                .map(|i| P::new(i, config.local_queue_capacity))
                .collect(),
            lock: Mutex::new(Locked {
                global: VecDeque::new(),
                inboxes: (0..n).map(|_| VecDeque::new()).collect(),
                // Reversed so pidleget hands out P0 first. A simulation's driver holds
                // every P for good.
                idle_ps: if config.simulate.is_some() {
                    Vec::new()
                } else {
                    (0..n).rev().collect()
                },
                idle_ms: Vec::new(),
                timer_m: None,
                timer_deadline: u64::MAX,
                polling: false,
                poll_deadline: u64::MAX,
            }),
            global_len: AtomicUsize::new(0),
            npidle: AtomicUsize::new(if config.simulate.is_some() { 0 } else { n }),
            thieves: config.steal_rounds > 0 && config.spinning != SpinningLimit::AtMost(0),
            sim_clock: AtomicU64::new(0),
            sim_hash: AtomicU64::new(0),
            sim_steps: AtomicU64::new(0),
            nmspinning: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            next_mid: AtomicUsize::new(0),
            allgs: Mutex::new(Vec::new()),
            gfree: Mutex::new(Vec::new()),
            next_goid: AtomicU64::new(1),
            stacks,
            external_spawns: AtomicU64::new(0),
            external_wakes: AtomicU64::new(0),
            deadlock: Mutex::new(None),
            blockers: Mutex::new(Vec::new()),
            coprimes,
            // In simulation the real clock must not decide anything: no slice expires.
            slice_ticks: match config.simulate {
                Some(_) => u64::MAX,
                None => gort_asm::duration_to_ticks(config.time_slice),
            },
            netpoll: std::sync::OnceLock::new(),
            netpoll_init: Mutex::new(()),
            last_poll: AtomicU64::new(0),
            netpoll_woken: AtomicU64::new(0),
            polling_now: AtomicBool::new(false),
            nsyscall: AtomicUsize::new(0),
            injecting: AtomicUsize::new(0),
            nthreads: AtomicUsize::new(0),
            thread_cap_warned: AtomicBool::new(false),
            threads_refused: AtomicBool::new(false),
            thread_refusal_warned: AtomicBool::new(false),
            sysmon_wake: Default::default(),
            sysmon_started: std::sync::Once::new(),
            syscall_handoffs: AtomicU64::new(0),
            preempt_requests: AtomicU64::new(0),
            hogs: AtomicU64::new(0),
            sample: AtomicU64::new(0),
            sample_mask: config.latency_sampling - 1,
            unowned_hist: Mutex::new(PHistograms::new()),
            trace: crate::trace::recorder::TraceState::new(),
            config,
        }
    }

    pub(crate) fn global_len(&self) -> usize {
        self.global_len.load(SeqCst)
    }

    pub(crate) fn thread_count(&self) -> usize {
        self.nthreads.load(Relaxed)
    }

    // ----- global run queue -------------------------------------------------------

    pub(crate) fn globrunqput_batch(&self, batch: impl IntoIterator<Item = GRef>) {
        let mut l = self.lock.lock();
        l.global.extend(batch);
        self.global_len.store(l.global.len(), SeqCst);
    }

    /// Go's `globrunqget`: takes `min(len/procs + 1, capacity/2)` goroutines (at most
    /// `max` when non-zero), returns the first and puts the rest in `p`'s local queue.
    ///
    /// # Safety
    /// The caller holds P `p`.
    pub(crate) unsafe fn globrunqget(&self, p: &P, max: usize) -> Option<GRef> {
        if self.global_len() == 0 {
            return None;
        }
        let mut batch = {
            let mut l = self.lock.lock();
            let len = l.global.len();
            let mut n = (len / self.config.procs + 1)
                .min(len)
                .min(self.config.local_queue_capacity / 2);
            if max > 0 {
                n = n.min(max);
            }
            if self.config.global_batch > 0 {
                n = n.min(self.config.global_batch);
            }
            let batch: Vec<GRef> = l.global.drain(..n).collect();
            self.global_len.store(l.global.len(), SeqCst);
            batch
        };
        if batch.is_empty() {
            return None;
        }
        add(&p.counters.global_pulls, batch.len() as u64);
        if trace::on(self) {
            points::event(self, kind::GLOBAL_PULL, 0, Some(p.id), batch.len() as u32);
        }
        let first = batch.remove(0);
        for g in batch {
            // SAFETY: the caller holds `p`.
            unsafe { self.runqput(p, g, false) };
        }
        Some(first)
    }

    // ----- local run queue with the runtime's policy ------------------------------

    /// Go's `runqput` with the knobs applied: `next` is honoured only when `runnext` is
    /// on and the current time slice has not expired (a woken chain inherits the slice
    /// for at most `time_slice`, then goes to the tail).
    ///
    /// # Safety
    /// The caller holds P `p`.
    #[inline]
    pub(crate) unsafe fn runqput(&self, p: &P, g: GRef, next: bool) {
        let next = next && self.config.runnext && {
            // SAFETY: the caller holds `p`.
            let local = unsafe { p.local() };
            let now = gort_asm::ticks();
            if local.slice_start == 0 {
                local.slice_start = now;
            }
            now.wrapping_sub(local.slice_start) < self.slice_ticks
        };
        // SAFETY: the caller holds `p`, so it is the queue's owner.
        if unsafe { p.runq.put(g, next, &GlobalOverflow(self)) } {
            self.note_overflow(p);
        }
    }

    #[cold]
    fn note_overflow(&self, p: &P) {
        bump(&p.counters.overflows);
        if trace::on(self) {
            let moved = self.config.local_queue_capacity / 2 + 1;
            points::event(self, kind::OVERFLOW, 0, Some(p.id), moved as u32);
        }
    }

    // ----- making goroutines runnable ---------------------------------------------

    /// A goroutine became runnable: on one transition in `latency_sampling`, stamp it for
    /// the scheduling-latency histogram (`execute` reads the stamp) and, if it was
    /// parked, record how long (`histogram.rs`).
    ///
    /// # Safety
    /// The caller holds `p` when it passes one.
    #[inline]
    pub(crate) unsafe fn note_runnable(&self, g: &G, p: Option<&P>, after_park: bool) {
        let sampled = match p {
            Some(p) => {
                // SAFETY: the caller holds `p`.
                let l = unsafe { p.local() };
                l.sample = l.sample.wrapping_add(1);
                l.sample & self.sample_mask == 0
            }
            None => self.sample.fetch_add(1, Relaxed) as u32 & self.sample_mask == 0,
        };
        if sampled {
            self.stamp_runnable(g, p, after_park);
        }
    }

    #[cold]
    fn stamp_runnable(&self, g: &G, p: Option<&P>, after_park: bool) {
        let now = gort_asm::ticks();
        g.ready_at.store(now.max(1), Relaxed);
        let parked = g.parked_at.load(Relaxed);
        if !after_park || parked == 0 {
            return;
        }
        let ticks = now.saturating_sub(parked);
        match p {
            Some(p) => p.hist.park_duration.record(ticks),
            None => self.unowned_hist.lock().park_duration.record(ticks),
        }
    }

    /// Puts an ACTIVE goroutine where the policy's `woken` says (`next`: it may take
    /// `runnext`; false for batches whose order must be kept) when called from a
    /// goroutine of this runtime, else in the global queue; wakes an M for it.
    pub(crate) fn ready(self: &Arc<Self>, g: GRef, next: bool) {
        let ctx = context::current();
        if trace::on(self) {
            points::go_unpark(self, &g);
        }
        if !ctx.is_null() {
            // SAFETY: a non-null current() is this M's live context (see context.rs).
            let ctx = unsafe { &*ctx };
            if Arc::ptr_eq(&ctx.sched, self) {
                let mut d = ctx.decide.woken;
                if !next && d == Fixed::Runnext {
                    d = Fixed::LocalTail;
                }
                if ctx.chaos_on() {
                    d = match crate::chaos::place_wakeup(ctx, true) {
                        Placement::Global => Fixed::Global,
                        Placement::Local(false) if d == Fixed::Runnext => Fixed::LocalTail,
                        Placement::Local(_) => d,
                    };
                }
                match ctx.p.get() {
                    // SAFETY: this M holds `pid`.
                    Some(pid) => unsafe {
                        let p = &self.ps[pid];
                        self.note_runnable(&g, Some(p), true);
                        self.put(p, g, d, Event::Woken { next }, true)
                    },
                    // Inside `blocking` (a goroutine of ours, counted by `nsyscall`).
                    None => {
                        // SAFETY: passing no P.
                        unsafe { self.note_runnable(&g, None, true) };
                        self.globrunqput_batch(std::iter::once(g));
                        self.wakep();
                    }
                }
                return;
            }
        }
        self.external_wakes.fetch_add(1, SeqCst);
        // SAFETY: passing no P.
        unsafe { self.note_runnable(&g, None, true) };
        self.globrunqput_batch(std::iter::once(g));
        self.wakep();
    }

    /// Puts runnable `g` where decision `d` (the policy's, for `event`) says and, with
    /// `wake`, wakes an M if one could run it: always for the global queue, for this P's
    /// own queue only if an idle M could steal from it (`wakep_local`). An idle P named
    /// for its inbox is started in any case.
    ///
    /// # Safety
    /// The caller holds P `p`.
    #[inline(always)]
    pub(crate) unsafe fn put(self: &Arc<Self>, p: &P, g: GRef, d: Fixed, event: Event, wake: bool) {
        match d {
            // SAFETY: the caller holds `p`.
            Fixed::Runnext => unsafe { self.runqput(p, g, true) },
            // SAFETY: the caller holds `p`.
            Fixed::LocalTail => unsafe { self.runqput(p, g, false) },
            // SAFETY: forwarded from the caller.
            _ => return unsafe { self.put_elsewhere(p, g, d, event, wake) },
        }
        if wake {
            self.wakep_local();
        }
    }

    /// The decisions off the fast path: the global queue, or asking the policy (which
    /// may also name another P).
    ///
    /// # Safety
    /// As for [`put`](Self::put).
    #[cold]
    unsafe fn put_elsewhere(self: &Arc<Self>, p: &P, g: GRef, d: Fixed, event: Event, wake: bool) {
        let place = match d {
            Fixed::Runnext => Place::Runnext,
            Fixed::LocalTail => Place::LocalTail,
            Fixed::Global => Place::Global,
            Fixed::Ask => {
                let at = View::new(self, Some(p.id));
                let policy = &self.config.policy;
                match event {
                    Event::Spawned => policy.spawned(&at),
                    Event::Woken { next } => match policy.woken(&at) {
                        Place::Runnext if !next => Place::LocalTail,
                        place => place,
                    },
                    Event::Yielded => policy.yielded(&at),
                }
            }
        };
        match place {
            // SAFETY: the caller holds `p`.
            Place::Runnext => unsafe { self.runqput(p, g, true) },
            // SAFETY: the caller holds `p`.
            Place::LocalTail => unsafe { self.runqput(p, g, false) },
            // SAFETY: the caller holds `p`.
            Place::P(i) if i == p.id => unsafe { self.runqput(p, g, false) },
            Place::P(i) if i < self.config.procs => return self.inbox_put(i, g),
            Place::P(_) | Place::Global => {
                self.globrunqput_batch(std::iter::once(g));
                if wake {
                    self.wakep();
                }
                return;
            }
        }
        if wake {
            self.wakep_local();
        }
    }

    /// Puts `g` in P `target`'s inbox; if that P is idle, starts an M on it. Under the
    /// scheduler lock, as the releasing M's last look at its inbox is (`schedule.rs`),
    /// so either that look sees `g` or this sees the P idle.
    fn inbox_put(self: &Arc<Self>, target: usize, g: GRef) {
        let mut l = self.lock.lock();
        l.inboxes[target].push_back(g);
        self.ps[target]
            .inbox_len
            .store(l.inboxes[target].len(), Relaxed);
        let Some(at) = l.idle_ps.iter().position(|&p| p == target) else {
            return;
        };
        l.idle_ps.remove(at);
        self.npidle.fetch_sub(1, SeqCst);
        if trace::on(self) {
            points::event(self, kind::P_BUSY, 0, Some(target), 0);
        }
        drop(l);
        self.startm(target, false);
    }

    /// Moves P `p`'s inbox into its ring and returns the first goroutine.
    ///
    /// # Safety
    /// The caller holds P `p`.
    #[cold]
    pub(crate) unsafe fn inbox_take(&self, p: &P) -> Option<GRef> {
        let batch: Vec<GRef> = {
            let mut l = self.lock.lock();
            p.inbox_len.store(0, Relaxed);
            l.inboxes[p.id].drain(..).collect()
        };
        let mut batch = batch.into_iter();
        let first = batch.next()?;
        for g in batch {
            // SAFETY: the caller holds `p`.
            unsafe { self.runqput(p, g, false) };
        }
        Some(first)
    }

    /// Goroutines spawned and not finished.
    pub(crate) fn live_goroutines(&self) -> u64 {
        let (spawned, completed) = self.ps.iter().fold((0, 0), |(s, c), p| {
            (
                s + p.counters.spawned.load(Relaxed),
                c + p.counters.completed.load(Relaxed),
            )
        });
        (spawned + self.external_spawns.load(Relaxed)).saturating_sub(completed)
    }

    /// Go's `wakep`: if there is an idle P and nobody is spinning, start an M spinning
    /// on it. The check inlines into every producer; the rest is out of line.
    #[inline(always)]
    pub(crate) fn wakep(self: &Arc<Self>) {
        if self.npidle.load(SeqCst) != 0 {
            self.wakep_idle();
        }
    }

    /// `wakep` for a goroutine just put in the current P's own queue: only an M that may
    /// steal could take it (with stealing or spinning off, a woken M would park again),
    /// or one that finds the global queue non-empty (a full ring spills half there).
    #[inline(always)]
    pub(crate) fn wakep_local(self: &Arc<Self>) {
        if self.npidle.load(SeqCst) != 0 {
            self.wakep_local_idle();
        }
    }

    #[inline(never)]
    fn wakep_local_idle(self: &Arc<Self>) {
        if self.thieves || self.global_len() > 0 {
            self.wakep_idle();
        }
    }

    #[inline(never)]
    fn wakep_idle(self: &Arc<Self>) {
        let spin = self.config.spinning != SpinningLimit::AtMost(0);
        if spin
            && (self.nmspinning.load(SeqCst) != 0
                || self
                    .nmspinning
                    .compare_exchange(0, 1, SeqCst, SeqCst)
                    .is_err())
        {
            return;
        }
        let pid = self.lock.lock().pidleget(self);
        match pid {
            Some(pid) => self.startm(pid, spin),
            None => {
                if spin {
                    self.nmspinning.fetch_sub(1, SeqCst);
                }
            }
        }
    }

    /// Go's `startm`: runs P `pid` on an idle M, or a new one.
    pub(crate) fn startm(self: &Arc<Self>, pid: usize, spinning: bool) {
        debug_assert!(self.config.simulate.is_none(), "no Ms start in simulation");
        let idle_m = self.lock.lock().idle_ms.pop();
        if let Some(m) = idle_m {
            m.wake(pid, spinning);
            return;
        }
        if self.shutdown.load(SeqCst) {
            self.release_unstarted(pid, spinning);
            return;
        }
        self.sysmon_started.call_once(|| self.start_sysmon());
        if self.nthreads.fetch_add(1, SeqCst) >= self.config.max_threads {
            self.nthreads.fetch_sub(1, SeqCst);
            if !self.thread_cap_warned.swap(true, SeqCst) {
                eprintln!(
                    "gort: warning: this runtime reached its limit of {} OS threads \
                     (Builder::max_threads / GORT_MAX_THREADS); goroutines blocked in \
                     gort::blocking keep their Ps until they return",
                    self.config.max_threads
                );
            }
            self.release_unstarted(pid, spinning);
            return;
        }
        let id = self.next_mid.fetch_add(1, Relaxed);
        let m = Arc::new(M::new(id));
        let sched = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("gort-m{id}"))
            .spawn(move || m::m_main(sched, m, pid, spinning));
        match spawned {
            Ok(h) => {
                self.threads_refused.store(false, Relaxed);
                let mut ts = self.threads.lock();
                ts.retain(|t| !t.is_finished()); // Ms that exited after idling
                ts.push(h);
            }
            Err(e) => {
                self.nthreads.fetch_sub(1, SeqCst);
                self.threads_refused.store(true, Relaxed);
                if !self.thread_refusal_warned.swap(true, SeqCst) {
                    eprintln!(
                        "gort: warning: the OS refused a new thread ({e}); until it accepts \
                         one, goroutines in gort::blocking keep their Ps and the other \
                         goroutines run on the threads there are"
                    );
                }
                self.release_unstarted(pid, spinning);
            }
        }
    }

    fn start_sysmon(self: &Arc<Self>) {
        let s = self.clone();
        let spawned = std::thread::Builder::new()
            .name("gort-sysmon".into())
            .spawn(move || crate::sysmon::sysmon_main(s));
        match spawned {
            Ok(h) => self.threads.lock().push(h),
            Err(e) => eprintln!(
                "gort: warning: cannot start the sysmon thread ({e}): no blocking-call \
                 handoff, preemption requests or hog reports"
            ),
        }
    }

    /// Go's `handoffp`: finds an M for P `pid`, just taken from an M blocked in
    /// `blocking`, if there is work for it; else makes it idle.
    pub(crate) fn handoffp(self: &Arc<Self>, pid: usize) {
        let p = &self.ps[pid];
        if !p.runq.is_empty()
            || p.inbox_len() > 0
            || self.global_len() > 0
            || p.timers.next_when() != u64::MAX
        {
            return self.startm(pid, false);
        }
        let spin = self.config.spinning != SpinningLimit::AtMost(0);
        if spin
            && self.npidle.load(SeqCst) == 0
            && self
                .nmspinning
                .compare_exchange(0, 1, SeqCst, SeqCst)
                .is_ok()
        {
            return self.startm(pid, true);
        }
        self.lock.lock().pidleput(self, pid);
    }

    fn release_unstarted(&self, pid: usize, spinning: bool) {
        self.lock.lock().pidleput(self, pid);
        if spinning {
            self.nmspinning.fetch_sub(1, SeqCst);
        }
    }

    /// Whether an M without work may start spinning now.
    pub(crate) fn may_spin(&self) -> bool {
        let spinning = self.nmspinning.load(SeqCst);
        match self.config.spinning {
            SpinningLimit::HalfBusy => {
                let busy = self.config.procs - self.npidle.load(SeqCst).min(self.config.procs);
                2 * spinning < busy
            }
            SpinningLimit::AtMost(n) => spinning < n,
        }
    }

    // ----- timers -------------------------------------------------------------------

    /// Deadline of the earliest timer of all Ps (u64::MAX: none).
    pub(crate) fn earliest_timer(&self) -> u64 {
        self.ps
            .iter()
            .map(|p| p.timers.next_when())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Called after a timer became the earliest of its P: make sure some M wakes for it.
    pub(crate) fn timer_added(self: &Arc<Self>, when: u64) {
        let l = self.lock.lock();
        if l.polling && when < l.poll_deadline {
            self.wake_poller();
        }
        match &l.timer_m {
            Some(m) if when < l.timer_deadline => m.kick(),
            Some(_) => {}
            None if l.polling => {}
            None => {
                drop(l);
                self.wakep();
            }
        }
    }

    /// Runs the expired timers of every P (their goroutines go to the caller's P).
    /// Returns how many fired.
    pub(crate) fn run_all_timers(&self, now: u64) -> usize {
        self.ps
            .iter()
            .filter(|p| p.timers.next_when() <= now)
            .map(|p| p.timers.run_expired(now))
            .sum()
    }

    // ----- Gs and ids ---------------------------------------------------------------

    /// Go's `gfget`: a free G from P's list, the global list, or a new one.
    ///
    /// # Safety
    /// The caller holds P `p` (or passes `None` from a plain thread).
    pub(crate) unsafe fn gfget(self: &Arc<Self>, p: Option<&P>) -> GRef {
        if let Some(p) = p {
            // SAFETY: the caller holds `p`.
            let local = unsafe { p.local() };
            if local.gfree.is_empty() {
                let mut g = self.gfree.lock();
                let n = g.len().min(P_GFREE_MAX / 2);
                let at = g.len() - n;
                local.gfree.extend(g.drain(at..));
            }
            if let Some(g) = local.gfree.pop() {
                return g;
            }
        } else if let Some(g) = self.gfree.lock().pop() {
            return g;
        }
        let g = Arc::new(G::new(self.clone()));
        self.allgs.lock().push(g.clone());
        g
    }

    /// Go's `gfput`: keeps a dead G for reuse if nothing but `allgs` refers to it.
    ///
    /// # Safety
    /// The caller holds P `p` and owns the dead G.
    pub(crate) unsafe fn gfput(&self, p: &P, g: GRef) {
        // One reference is ours, one is `allgs`; any other is a handle or a stale waker
        // that must never reach a later goroutine.
        if Arc::strong_count(&g) != 2 {
            return;
        }
        // Pairs with the release of the other references' drops (as `Arc::get_mut` does).
        std::sync::atomic::fence(Acquire);
        // SAFETY: the caller owns the dead G; the count shows no handle can see it.
        unsafe { g.reset() };
        g.state.reset();
        // SAFETY: the caller holds `p`.
        let local = unsafe { p.local() };
        local.gfree.push(g);
        if local.gfree.len() >= P_GFREE_MAX {
            let spill: Vec<GRef> = local.gfree.drain(..P_GFREE_MAX / 2).collect();
            self.gfree.lock().extend(spill);
        }
    }

    /// A new goroutine id, from P's reserved block when there is a P.
    ///
    /// # Safety
    /// The caller holds P `p`.
    pub(crate) unsafe fn next_goid(&self, p: Option<&P>) -> u64 {
        match p {
            Some(p) => {
                // SAFETY: the caller holds `p`.
                let l = unsafe { p.local() };
                if l.goid_next == l.goid_end {
                    l.goid_next = self.next_goid.fetch_add(GOID_BATCH, Relaxed);
                    l.goid_end = l.goid_next + GOID_BATCH;
                }
                l.goid_next += 1;
                l.goid_next - 1
            }
            None => self.next_goid.fetch_add(1, Relaxed),
        }
    }

    /// Enqueues a freshly initialised G (status IDLE) as runnable.
    pub(crate) fn start_goroutine(
        self: &Arc<Self>,
        g: GRef,
        ctx: Option<(&MContext, usize)>,
        is_main: bool,
    ) {
        g.state.activate();
        if trace::on(self) {
            points::go_create(self, &g, ctx.map(|(_, pid)| pid));
        }
        match ctx {
            Some((ctx, pid)) => {
                let p = &self.ps[pid];
                bump(&p.counters.spawned);
                // SAFETY: the caller's M holds `pid`.
                unsafe {
                    self.note_runnable(&g, Some(p), false);
                    self.put(p, g, ctx.decide.spawned, Event::Spawned, true)
                };
            }
            None => {
                // SAFETY: passing no P.
                unsafe { self.note_runnable(&g, None, false) };
                // Count and publish in one hold of the lock `check_dead` runs under, so it
                // never sees a live goroutine that is in no queue.
                let mut l = self.lock.lock();
                self.external_spawns.fetch_add(1, Relaxed);
                if is_main {
                    // A new `block_on` starts: an earlier report is stale.
                    *self.deadlock.lock() = None;
                } else {
                    self.external_wakes.fetch_add(1, SeqCst);
                }
                l.global.push_back(g);
                self.global_len.store(l.global.len(), SeqCst);
                drop(l);
                self.wakep();
            }
        }
    }

    /// Joins every M thread (they exit once `shutdown` is set and they reach the
    /// scheduler loop).
    pub(crate) fn join_threads(&self) {
        loop {
            let hs: Vec<_> = std::mem::take(&mut *self.threads.lock());
            if hs.is_empty() {
                break;
            }
            for h in hs {
                let _ = h.join();
            }
        }
    }

    /// Empties the global queue and free lists (shutdown, after every M has exited).
    pub(crate) fn drain_queues(&self) -> Vec<GRef> {
        let mut l = self.lock.lock();
        let mut out: Vec<GRef> = l.global.drain(..).collect();
        for (inbox, p) in l.inboxes.iter_mut().zip(self.ps.iter()) {
            out.extend(inbox.drain(..));
            p.inbox_len.store(0, Relaxed);
        }
        drop(l);
        self.global_len.store(0, SeqCst);
        out.append(&mut self.gfree.lock());
        out
    }
}

impl Locked {
    /// Go's `pidleget`.
    pub(crate) fn pidleget(&mut self, s: &Sched) -> Option<usize> {
        let p = self.idle_ps.pop();
        if p.is_some() {
            s.npidle.fetch_sub(1, SeqCst);
            if trace::on(s) {
                points::event(s, kind::P_BUSY, 0, p, 0);
            }
        }
        p
    }

    /// Gives up the timer-M role if `m` holds it.
    pub(crate) fn resign_timer_m(&mut self, m: &Arc<M>) {
        if self.timer_m.as_ref().is_some_and(|t| Arc::ptr_eq(t, m)) {
            self.timer_m = None;
            self.timer_deadline = u64::MAX;
        }
    }

    /// Go's `pidleput`.
    pub(crate) fn pidleput(&mut self, s: &Sched, pid: usize) {
        s.ps[pid].status.curg.store(std::ptr::null_mut(), Relaxed);
        self.idle_ps.push(pid);
        s.npidle.fetch_add(1, SeqCst);
        if trace::on(s) {
            points::event(s, kind::P_IDLE, 0, Some(pid), 0);
        }
    }
}

/// The global queue as the overflow target of local run queues.
struct GlobalOverflow<'a>(&'a Sched);

impl Overflow<G> for GlobalOverflow<'_> {
    fn push_batch(&self, batch: Vec<GRef>) {
        self.0.globrunqput_batch(batch);
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

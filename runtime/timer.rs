//! Timers: per-P 4-ary heaps (Go's `timers`, `time.go`), run by the scheduler.
//!
//! A goroutine that sleeps or waits with a deadline puts a [`TimerSlot`] in its P's heap
//! and parks. The scheduler runs a P's expired timers at the top of `find_runnable`
//! (Go's `checkTimers`), thieves run other Ps' expired timers on their last steal round,
//! and an M with nothing to do sleeps exactly until the earliest timer of all Ps (one M
//! at a time does that timed sleep: the *timer M*, Go's netpoll-blocked M). Adding a
//! timer earlier than the timer M's deadline wakes it to sleep less; adding one when there
//! is no timer M wakes an idle M for the job.
//!
//! A slot is fired or cancelled exactly once: both go through one CAS on its state, and
//! the winner takes the goroutine reference out of it. Cancelled slots stay in the heap
//! until their time comes, unless they become more than half of it, when the heap is
//! rebuilt without them (so long timeouts that end early do not pile up).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::g::GRef;
use crate::loom::{AtomicU32, UnsafeCell};
use crate::waiter;

const PENDING: u32 = 0;
const FIRED: u32 = 1;
const CANCELLED: u32 = 2;

thread_local! {
    /// The virtual clock of a simulation driven by this thread (`sim/`), 0 otherwise.
    static VIRTUAL_NS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// The last virtual trace timestamp handed out on this thread.
    static VIRTUAL_TICK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A trace timestamp in simulation: the virtual time, but one nanosecond past the last
/// one when the clock has not moved, so events stay ordered. `None` outside one.
pub(crate) fn virtual_trace_tick() -> Option<u64> {
    let now = VIRTUAL_NS.with(|c| c.get());
    if now == 0 {
        return None;
    }
    Some(VIRTUAL_TICK.with(|c| {
        let t = now.max(c.get() + 1);
        c.set(t);
        t
    }))
}

/// Nanoseconds since a process-wide epoch: the timers' clock (virtual in simulation).
pub(crate) fn now_ns() -> u64 {
    match VIRTUAL_NS.with(|c| c.get()) {
        0 => instant_to_ns(Instant::now()),
        v => v,
    }
}

/// The timers' clock as an `Instant` (virtual in simulation).
pub(crate) fn now() -> Instant {
    match VIRTUAL_NS.with(|c| c.get()) {
        0 => Instant::now(),
        v => ns_to_instant(v),
    }
}

/// Sets (non-zero) or clears (0) this thread's virtual clock.
pub(crate) fn set_virtual_ns(ns: u64) {
    VIRTUAL_NS.with(|c| c.set(ns));
}

/// Starts this thread's virtual clock at `ns` (trace timestamps start over with it).
pub(crate) fn start_virtual_clock(ns: u64) {
    VIRTUAL_TICK.with(|c| c.set(0));
    set_virtual_ns(ns);
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(crate) fn instant_to_ns(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_nanos() as u64
}

pub(crate) fn ns_to_instant(ns: u64) -> Instant {
    epoch() + Duration::from_nanos(ns)
}

/// One pending wakeup of a goroutine.
pub(crate) struct TimerSlot {
    state: AtomicU32,
    g: UnsafeCell<Option<GRef>>,
}

// SAFETY: `g` is taken only by the thread whose CAS moved `state` out of PENDING (fire or
// cancel), and written only at creation, before the slot is shared.
unsafe impl Sync for TimerSlot {}

impl TimerSlot {
    pub(crate) fn new(g: GRef) -> Arc<TimerSlot> {
        Arc::new(Self::with_g(Some(g)))
    }

    fn with_g(g: Option<GRef>) -> TimerSlot {
        TimerSlot {
            state: AtomicU32::new(PENDING),
            g: UnsafeCell::new(g),
        }
    }

    #[cfg(test)]
    pub(crate) fn fired(&self) -> bool {
        self.state.load(Acquire) == FIRED
    }

    /// Stops the timer; false if it already fired.
    pub(crate) fn cancel(&self) -> bool {
        if self
            .state
            .compare_exchange(PENDING, CANCELLED, AcqRel, Acquire)
            .is_ok()
        {
            // SAFETY: our CAS won, so we alone take `g`.
            drop(self.g.with_mut(|g| unsafe { (*g).take() }));
            return true;
        }
        false
    }

    /// Fires the timer: wakes its goroutine. False if it was cancelled.
    fn fire(&self) -> bool {
        if self
            .state
            .compare_exchange(PENDING, FIRED, AcqRel, Acquire)
            .is_ok()
        {
            // SAFETY: our CAS won, so we alone take `g`.
            if let Some(g) = self.g.with_mut(|g| unsafe { (*g).take() }) {
                waiter::unpark_fifo(&g);
            }
            return true;
        }
        false
    }

    fn is_cancelled(&self) -> bool {
        self.state.load(Relaxed) == CANCELLED
    }
}

struct Entry {
    when: u64,
    seq: u64,
    slot: Arc<TimerSlot>,
}

impl Entry {
    fn key(&self) -> (u64, u64) {
        (self.when, self.seq)
    }
}

/// A 4-ary min-heap of timers by deadline (then insertion order): shallower than a binary
/// heap, so fewer cache misses per sift, as in Go.
#[derive(Default)]
struct Heap {
    v: Vec<Entry>,
    seq: u64,
}

impl Heap {
    fn push(&mut self, when: u64, slot: Arc<TimerSlot>) {
        self.seq += 1;
        self.v.push(Entry {
            when,
            seq: self.seq,
            slot,
        });
        self.sift_up(self.v.len() - 1);
    }

    fn peek_when(&self) -> u64 {
        self.v.first().map_or(u64::MAX, |e| e.when)
    }

    fn pop(&mut self) -> Option<Entry> {
        if self.v.is_empty() {
            return None;
        }
        let last = self.v.len() - 1;
        self.v.swap(0, last);
        let e = self.v.pop();
        if !self.v.is_empty() {
            self.sift_down(0);
        }
        e
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.v[i].key() >= self.v[parent].key() {
                break;
            }
            self.v.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.v.len();
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let last = (first + 4).min(n);
            let mut min = first;
            for c in first + 1..last {
                if self.v[c].key() < self.v[min].key() {
                    min = c;
                }
            }
            if self.v[min].key() >= self.v[i].key() {
                break;
            }
            self.v.swap(i, min);
            i = min;
        }
    }

    fn rebuild_without_cancelled(&mut self) {
        self.v.retain(|e| !e.slot.is_cancelled());
        for i in (0..self.v.len()).rev() {
            self.sift_down(i);
        }
    }
}

/// One P's timers.
#[derive(Default)]
pub(crate) struct Timers {
    heap: Mutex<Heap>,
    /// Deadline of the earliest timer (u64::MAX: none), readable without the lock.
    next: AtomicU64,
    /// Timers in the heap, for metrics and the "anything pending?" check.
    len: AtomicUsize,
    cancelled: AtomicUsize,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            next: AtomicU64::new(u64::MAX),
            ..Default::default()
        }
    }

    pub(crate) fn next_when(&self) -> u64 {
        self.next.load(SeqCst)
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Adds a timer; returns true when it became this heap's earliest.
    pub(crate) fn add(&self, when: u64, slot: Arc<TimerSlot>) -> bool {
        let mut h = self.heap.lock();
        h.push(when, slot);
        self.len.store(h.v.len(), Relaxed);
        let earliest = h.peek_when() == when && when < self.next.load(Relaxed);
        self.next.store(h.peek_when(), SeqCst);
        earliest
    }

    /// Notes a cancellation; rebuilds the heap when cancelled slots dominate it.
    pub(crate) fn note_cancelled(&self) {
        let c = self.cancelled.fetch_add(1, Relaxed) + 1;
        if c > 64 && c > self.len() / 2 {
            let mut h = self.heap.lock();
            h.rebuild_without_cancelled();
            self.cancelled.store(0, Relaxed);
            self.len.store(h.v.len(), Relaxed);
            self.next.store(h.peek_when(), SeqCst);
        }
    }

    /// Fires every timer due at `now`; returns how many fired.
    pub(crate) fn run_expired(&self, now: u64) -> usize {
        if self.next.load(SeqCst) > now {
            return 0;
        }
        let mut due = Vec::new();
        {
            let mut h = self.heap.lock();
            while h.peek_when() <= now {
                let e = h.pop().expect("peeked");
                due.push(e.slot);
            }
            self.len.store(h.v.len(), Relaxed);
            self.next.store(h.peek_when(), SeqCst);
        }
        // Fire outside the lock: waking a goroutine may take the scheduler lock.
        let mut fired = 0;
        for slot in due {
            if slot.fire() {
                fired += 1;
            } else {
                let _ = self
                    .cancelled
                    .fetch_update(Relaxed, Relaxed, |c| Some(c.saturating_sub(1)));
            }
        }
        fired
    }

    /// Drops every timer (runtime teardown).
    pub(crate) fn clear(&self) {
        let entries = std::mem::take(&mut self.heap.lock().v);
        for e in &entries {
            e.slot.cancel();
        }
        self.len.store(0, Relaxed);
        self.next.store(u64::MAX, SeqCst);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn heap_pops_in_deadline_then_insertion_order() {
        let mut h = Heap::default();
        let mut rng = 0x1234_5678_9abc_def0u64;
        let mut whens = Vec::new();
        for _ in 0..1000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let w = rng % 100;
            whens.push(w);
            h.push(w, Arc::new(TimerSlot::with_g(None)));
        }
        let mut out = Vec::new();
        while let Some(e) = h.pop() {
            out.push(e.key());
        }
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(out, sorted);
        assert_eq!(out.len(), 1000);
    }

    #[test]
    fn cancel_and_fire_happen_at_most_once_between_them() {
        let s = Arc::new(TimerSlot::with_g(None));
        assert!(s.cancel());
        assert!(!s.fire());
        assert!(!s.cancel());
        let t = Timers::new();
        let s2 = Arc::new(TimerSlot::with_g(None));
        assert!(t.add(10, s2.clone()));
        assert!(t.add(5, s.clone()), "an earlier timer becomes the earliest");
        assert_eq!(t.next_when(), 5);
        assert_eq!(t.run_expired(4), 0);
        assert_eq!(t.run_expired(10), 1, "the cancelled one does not count");
        assert!(s2.fired());
        assert_eq!(t.next_when(), u64::MAX);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// The scheduler fires a timer while its goroutine cancels it (it woke for another
    /// reason): exactly one of them wins, and the loser changes nothing.
    #[test]
    fn loom_timer_fire_and_cancel_race_has_one_winner() {
        loom::model(|| {
            let slot = Arc::new(TimerSlot::with_g(None));
            let s2 = slot.clone();
            let firer = thread::spawn(move || s2.fire());
            let cancelled = slot.cancel();
            let fired = firer.join().unwrap();
            assert!(fired ^ cancelled);
            let state = slot.state.load(Acquire);
            assert_eq!(state, if fired { FIRED } else { CANCELLED });
        });
    }

    /// Two thieves run the same expired timer (two Ms scanning all Ps): it fires once.
    #[test]
    fn loom_timer_fires_once() {
        loom::model(|| {
            let slot = Arc::new(TimerSlot::with_g(None));
            let s2 = slot.clone();
            let t = thread::spawn(move || s2.fire());
            let a = slot.fire();
            let b = t.join().unwrap();
            assert!(a ^ b);
        });
    }
}

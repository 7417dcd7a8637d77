//! [`WaitGroup`]: wait for a collection of goroutines to finish (Go's `sync.WaitGroup`).
//!
//! The counter is one atomic; `done` is a single `fetch_add` unless it brings the
//! counter to zero, when it takes the waiter list's lock and wakes everybody queued. A
//! waiter re-checks the counter under that lock before queueing, so a zero reached
//! between its first check and its queueing is seen there, and a zero reached after it
//! queued finds it in the list: no wakeup is lost. Waiters are notified per node (no
//! counted tokens), so one that times out or is unwound just removes its node.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex as Lock;

use super::waitq::{park_on, teardown_block, Node, OnUnwind, Parked, WaitQueue};
use crate::g::{Wait, WaitReason};

struct Inner {
    count: AtomicI64,
    waiters: Lock<WaitQueue>,
}

/// Waits for a counter of outstanding work to reach zero.
///
/// `WaitGroup` is a cheap `Clone` handle: every clone shares the same counter (it is an
/// `Arc` inside), so clones can be moved into goroutines; `&WaitGroup` works as well
/// (e.g. in a [`scope`](crate::scope)). As in Go, call [`add`](WaitGroup::add) before
/// starting the work it counts, [`done`](WaitGroup::done) when a piece finishes, and
/// [`wait`](WaitGroup::wait) (from goroutines or plain threads, any number of them) to
/// block until the counter is zero.
///
/// ```
/// gort::run(|| {
///     let wg = gort::sync::WaitGroup::new();
///     let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
///     for _ in 0..10 {
///         wg.add(1);
///         let (wg, hits) = (wg.clone(), hits.clone());
///         gort::spawn(move || {
///             hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///             wg.done();
///         });
///     }
///     wg.wait();
///     assert_eq!(hits.load(std::sync::atomic::Ordering::Relaxed), 10);
/// });
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

impl WaitGroup {
    /// A wait group with a zero counter.
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Inner {
                count: AtomicI64::new(0),
                waiters: Lock::new(WaitQueue::new()),
            }),
        }
    }

    /// Adds `n` to the counter.
    pub fn add(&self, n: usize) {
        self.adjust(i64::try_from(n).expect("WaitGroup::add: n too large"));
    }

    /// Subtracts one from the counter, waking the waiters when it reaches zero.
    ///
    /// # Panics
    /// If the counter goes negative (more `done`s than `add`s), as in Go.
    pub fn done(&self) {
        self.adjust(-1);
    }

    /// The current counter (a snapshot).
    pub fn count(&self) -> usize {
        self.inner.count.load(Acquire).max(0) as usize
    }

    fn adjust(&self, delta: i64) {
        // AcqRel: the work before `done` happens before a waiter's Acquire load of zero.
        let v = self.inner.count.fetch_add(delta, AcqRel) + delta;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if v == 0 && delta != 0 {
            let all = self.inner.waiters.lock().notify_all();
            all.wake();
        }
    }

    /// Parks until the counter is zero.
    ///
    /// # Panics
    /// During runtime teardown, if the counter is not zero (only dropped goroutines
    /// could bring it down).
    #[track_caller]
    pub fn wait(&self) {
        if !self.wait_inner(None) {
            unreachable!("an untimed wait returns at zero");
        }
    }

    /// Parks until the counter is zero or `timeout` passes; true if it reached zero.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_inner(Some(crate::timer::now() + timeout))
    }

    #[track_caller]
    fn wait_inner(&self, deadline: Option<Instant>) -> bool {
        let inner = &*self.inner;
        if inner.count.load(Acquire) == 0 {
            return true;
        }
        let node = Node::new();
        {
            let mut q = inner.waiters.lock();
            if inner.count.load(Acquire) == 0 {
                return true;
            }
            // SAFETY: `node` lives in this frame, which returns only after it was notified
            // or removed under this lock; on unwind `unwound` removes it first.
            unsafe { q.push_back(&node) };
        }
        let unwound = OnUnwind::new(|| {
            inner.waiters.lock().remove(&node);
        });
        let parked = park_on(&node, deadline, Wait::here(WaitReason::WaitGroup));
        let done = parked == Parked::Notified || !inner.waiters.lock().remove(&node);
        unwound.defuse();
        if !done && parked == Parked::Teardown {
            teardown_block("WaitGroup::wait");
        }
        done
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.inner.count.load(Relaxed))
            .finish()
    }
}

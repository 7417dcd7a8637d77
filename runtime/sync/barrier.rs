//! [`Barrier`]: `n` parties meet, then all go on; reusable (generation by generation).
//!
//! The count and the waiter list share one lock. The `n`-th arrival resets the count
//! (starting the next generation), pops every queued waiter and wakes them after
//! unlocking; it is the generation's leader. A waiter that times out (or is unwound)
//! removes itself and takes its arrival back, under the lock; if it was already popped,
//! its generation completed and it counts as released.

use std::fmt;
use std::time::{Duration, Instant};

use parking_lot::Mutex as Lock;

use super::waitq::{park_on, teardown_block, Node, OnUnwind, Parked, WaitQueue};
use crate::g::{Wait, WaitReason};

struct State {
    arrived: usize,
    generation: u64,
    queue: WaitQueue,
}

/// Lets `n` goroutines (or threads) wait until all of them have arrived.
///
/// ```
/// use std::sync::Arc;
/// gort::run(|| {
///     let b = Arc::new(gort::sync::Barrier::new(3));
///     let hs: Vec<_> = (0..3)
///         .map(|_| {
///             let b = b.clone();
///             gort::spawn(move || b.wait().is_leader())
///         })
///         .collect();
///     let leaders = hs.into_iter().filter(|_| true).map(|h| h.join().unwrap()).filter(|l| *l).count();
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    n: usize,
    state: Lock<State>,
}

/// What [`Barrier::wait`] returns: whether this caller was the generation's leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one caller per generation (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` parties (`0` behaves like `1`).
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            state: Lock::new(State {
                arrived: 0,
                generation: 0,
                queue: WaitQueue::new(),
            }),
        }
    }

    /// Parks until `n` callers have arrived in this generation.
    ///
    /// # Panics
    /// During runtime teardown, if the generation cannot complete.
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        self.wait_inner(None).expect("no deadline")
    }

    /// Like [`wait`](Barrier::wait), but gives up after `timeout`, taking this arrival
    /// back (`None`); the generation then still needs `n` arrivals.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Option<BarrierWaitResult> {
        self.wait_inner(Some(crate::timer::now() + timeout))
    }

    #[track_caller]
    fn wait_inner(&self, deadline: Option<Instant>) -> Option<BarrierWaitResult> {
        let node = Node::new();
        {
            let mut s = self.state.lock();
            s.arrived += 1;
            if s.arrived >= self.n {
                s.arrived = 0;
                s.generation = s.generation.wrapping_add(1);
                let all = s.queue.notify_all();
                drop(s);
                all.wake();
                return Some(BarrierWaitResult(true));
            }
            // SAFETY: `node` lives in this frame, which returns only after it was
            // notified or removed (with `leave`) under this lock; on unwind `unwound`
            // removes it first.
            unsafe { s.queue.push_back(&node) };
        }
        let unwound = OnUnwind::new(|| {
            self.leave(&node);
        });
        let parked = park_on(&node, deadline, Wait::here(WaitReason::Barrier));
        let released = parked == Parked::Notified || !self.leave(&node);
        unwound.defuse();
        if released {
            Some(BarrierWaitResult(false))
        } else if parked == Parked::Teardown {
            teardown_block("Barrier::wait")
        } else {
            None
        }
    }

    /// Under the lock: withdraws a waiter that gives up; false if its generation
    /// completed already.
    fn leave(&self, node: &Node) -> bool {
        let mut s = self.state.lock();
        if s.queue.remove(node) {
            s.arrived -= 1;
            true
        } else {
            false
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

//! A counting semaphore with a FIFO of waiters and direct grants (Go's `semacquire` /
//! `semrelease` on one address, with its own lock instead of Go's hashed `semaRoot`s).
//!
//! `release` gives its unit straight to the head waiter if there is one (the waiter wakes
//! already holding it), else adds it to `count`, which the next `acquire` takes without
//! waiting. So a release that comes before the matching waiter has queued is remembered,
//! and no unit is ever lost. The [`Mutex`](super::Mutex) uses one as its wakeup channel,
//! the public [`Semaphore`](super::Semaphore) as its permit pool.

use std::time::Instant;

use parking_lot::Mutex as Lock;

use super::waitq::{park_on, wait_imminent, Node, OnUnwind, Parked, WaitQueue};
use crate::g::Wait;

/// What a waiter that must stop waiting (deadline, teardown, unwinding) may do; decided
/// by the owner under the semaphore's lock, with the waiter's node still queued and not
/// granted.
pub(crate) enum Cancel {
    /// Leave the queue now (the owner has undone whatever registration it made).
    Leave,
    /// Stay: a grant is already on its way to this waiter (a releaser decided to wake
    /// it and is about to take the lock); wait for it, then own the unit.
    Wait,
}

/// How an [`Sema::acquire`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// The caller holds one unit.
    Granted,
    /// The deadline passed; the caller holds nothing.
    TimedOut,
    /// Runtime teardown: nothing can ever grant this wait; the caller holds nothing.
    Teardown,
}

pub(crate) struct SemaState {
    /// Units released while nobody was queued. Non-zero only with an empty queue.
    pub(crate) count: usize,
    pub(crate) queue: WaitQueue,
}

pub(crate) struct Sema {
    state: Lock<SemaState>,
}

impl Sema {
    pub(crate) const fn new(count: usize) -> Sema {
        Sema {
            state: Lock::new(SemaState {
                count,
                queue: WaitQueue::new(),
            }),
        }
    }

    /// The lock, for owners that inspect the queue.
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, SemaState> {
        self.state.lock()
    }

    /// Takes a unit if one is free, without waiting.
    pub(crate) fn try_acquire(&self) -> bool {
        let mut s = self.state.lock();
        if s.count > 0 {
            s.count -= 1;
            true
        } else {
            false
        }
    }

    /// Takes a unit, waiting (at the head of the queue with `lifo`) until one is granted
    /// or `deadline` passes.
    ///
    /// `cancel` runs under the lock when the wait must end while not granted (see
    /// [`Cancel`]). `abandon` runs when the waiter is unwound (a panic, or the forced
    /// unwind of a goroutine dropped at teardown) after a unit was granted to it: it must
    /// hand the unit on.
    pub(crate) fn acquire(
        &self,
        lifo: bool,
        deadline: Option<Instant>,
        wait: Wait,
        cancel: &dyn Fn() -> Cancel,
        abandon: &dyn Fn(),
    ) -> Acquired {
        let node = Node::new();
        {
            let mut s = self.state.lock();
            if s.count > 0 {
                s.count -= 1;
                return Acquired::Granted;
            }
            // SAFETY: `node` lives in this frame, which returns only after the node was
            // notified (`park_on`/`wait_imminent` saw it) or removed (`leave`); on unwind
            // `guard` below does the same before the frame dies.
            unsafe {
                if lifo {
                    s.queue.push_front(&node);
                } else {
                    s.queue.push_back(&node);
                }
            }
        }
        let guard = OnUnwind::new(|| {
            if !self.leave(&node, cancel) {
                wait_imminent(&node, wait);
                abandon();
            }
        });
        let out = match park_on(&node, deadline, wait) {
            Parked::Notified => Acquired::Granted,
            how => {
                if self.leave(&node, cancel) {
                    if how == Parked::TimedOut {
                        Acquired::TimedOut
                    } else {
                        Acquired::Teardown
                    }
                } else {
                    wait_imminent(&node, wait);
                    Acquired::Granted
                }
            }
        };
        guard.defuse();
        out
    }

    /// Under the lock: true if the node left the queue un-granted; false if it was, or
    /// will shortly be, granted.
    fn leave(&self, node: &Node, cancel: &dyn Fn() -> Cancel) -> bool {
        let mut s = self.state.lock();
        if node.is_notified() {
            return false;
        }
        match cancel() {
            Cancel::Leave => {
                let removed = s.queue.remove(node);
                debug_assert!(removed, "an un-notified node is queued");
                true
            }
            Cancel::Wait => false,
        }
    }

    /// Releases one unit: to the head waiter, else to `count`.
    pub(crate) fn release(&self) {
        let w = {
            let mut s = self.state.lock();
            let w = s.queue.notify_one();
            if w.is_none() {
                s.count += 1;
            }
            w
        };
        if let Some(w) = w {
            w.wake();
        }
    }
}

//! [`Condvar`]: wait for a condition under a gort [`Mutex`](super::Mutex) (Go's
//! `sync.Cond`).
//!
//! A waiter queues its node *before* it unlocks the mutex, so a notifier that changes
//! the condition under the mutex after that unlock always finds it: no wakeup is lost
//! between "the condition is false" and "I am asleep". Notifications are per node (no
//! counted tokens), so a waiter that times out or is unwound just removes its node; one
//! that is unwound after being notified passes the notification on to the next waiter,
//! so a `notify_one` is never swallowed by a dying goroutine.

use std::fmt;
use std::time::{Duration, Instant};

use parking_lot::Mutex as Lock;

use super::mutex::MutexGuard;
use super::waitq::{park_on, teardown_block, Node, OnUnwind, Parked, WaitQueue};
use crate::g::{Wait, WaitReason};

/// A condition variable for goroutines and threads, used with [`Mutex`](super::Mutex).
///
/// Like std's (and Go's), a wait may return without a notification (a spurious
/// wakeup): check the condition in a loop, or use [`wait_while`](Condvar::wait_while).
///
/// ```
/// use std::sync::Arc;
/// use gort::sync::{Condvar, Mutex};
/// gort::run(|| {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let p = pair.clone();
///     gort::spawn(move || {
///         *p.0.lock() = true;
///         p.1.notify_one();
///     });
///     let (m, cv) = &*pair;
///     let ready = cv.wait_while(m.lock(), |ready| !*ready);
///     assert!(*ready);
/// });
/// ```
pub struct Condvar {
    queue: Lock<WaitQueue>,
}

/// Whether a timed [`Condvar`] wait returned because its time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True when the wait ended because the timeout elapsed.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condition variable with no waiters.
    pub const fn new() -> Condvar {
        Condvar {
            queue: Lock::new(WaitQueue::new()),
        }
    }

    /// Unlocks the guard's mutex, parks until notified, and locks it again.
    ///
    /// # Panics
    /// During runtime teardown (nothing could notify a destructor waiting here).
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_until_inner(guard, None).0
    }

    /// Waits while `condition` holds (checking it first, under the lock).
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Like [`wait`](Condvar::wait), giving up after `timeout` (the mutex is locked again
    /// either way).
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let (g, timed_out) = self.wait_until_inner(guard, Some(crate::timer::now() + timeout));
        (g, WaitTimeoutResult(timed_out))
    }

    /// Waits while `condition` holds, at most `timeout` in total. The result says
    /// whether the time ran out with the condition still true.
    #[track_caller]
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult)
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = crate::timer::now() + timeout;
        while condition(&mut *guard) {
            let (g, timed_out) = self.wait_until_inner(guard, Some(deadline));
            guard = g;
            if timed_out {
                let still = condition(&mut *guard);
                return (guard, WaitTimeoutResult(still));
            }
        }
        (guard, WaitTimeoutResult(false))
    }

    /// Wakes the longest-waiting waiter, if any.
    pub fn notify_one(&self) {
        let w = self.queue.lock().notify_one();
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let all = self.queue.lock().notify_all();
        all.wake();
    }

    #[track_caller]
    fn wait_until_inner<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, bool) {
        let mutex = guard.mutex;
        let node = Node::new();
        // SAFETY: `node` lives in this frame, which returns only after it was notified
        // or removed under the queue's lock; on unwind `unwound` removes it first.
        unsafe { self.queue.lock().push_back(&node) };
        let unwound = OnUnwind::new(|| {
            let removed = self.queue.lock().remove(&node);
            if !removed {
                // Notified, then unwound: pass the notification on.
                self.notify_one();
            }
        });
        // Unlock only now that we are queued: a notifier that runs after this sees us.
        drop(guard);
        let parked = park_on(&node, deadline, Wait::here(WaitReason::Condvar));
        let timed_out = parked != Parked::Notified && self.queue.lock().remove(&node);
        unwound.defuse();
        if timed_out && parked == Parked::Teardown {
            teardown_block("Condvar::wait");
        }
        (mutex.lock(), timed_out)
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

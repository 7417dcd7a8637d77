//! [`Semaphore`]: a counting semaphore with FIFO waiters and direct handoff.
//!
//! Built on the same [`Sema`] as the mutex's wakeups: a released permit goes straight to
//! the longest waiter (it wakes already holding it), so a stream of `try_acquire`s cannot
//! overtake queued waiters, and a permit released before a waiter queued is kept in the
//! count. A waiter that times out leaves the queue under the lock; one unwound after a
//! permit reached it releases that permit again.

use std::fmt;
use std::time::{Duration, Instant};

use super::plain_hold::PlainHold;
use super::sema::{Acquired, Cancel, Sema};
use super::waitq::teardown_block;
use crate::g::{Wait, WaitReason};

/// A counting semaphore: at most `permits` holders at once.
///
/// ```
/// gort::run(|| {
///     let s = gort::sync::Semaphore::new(2);
///     let a = s.acquire();
///     let _b = s.acquire();
///     assert!(s.try_acquire().is_none());
///     drop(a);
///     assert!(s.try_acquire().is_some());
/// });
/// ```
pub struct Semaphore {
    sema: Sema,
}

/// One permit of a [`Semaphore`], released when dropped.
#[must_use = "a permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    _hold: PlainHold,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            sema: Sema::new(permits),
        }
    }

    /// Takes a permit, parking the goroutine (blocking a plain thread) until one is free.
    /// Waiters are served first come, first served.
    ///
    /// # Panics
    /// During runtime teardown, if only a dropped goroutine could release a permit.
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        match self.acquire_inner(None) {
            Acquired::Granted => SemaphorePermit {
                sem: self,
                _hold: PlainHold::new(),
            },
            Acquired::Teardown => teardown_block("Semaphore::acquire"),
            Acquired::TimedOut => unreachable!("no deadline"),
        }
    }

    /// Takes a permit if one is free right now.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.sema.try_acquire().then(|| SemaphorePermit {
            sem: self,
            _hold: PlainHold::new(),
        })
    }

    /// Takes a permit, waiting at most `timeout`.
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.acquire_until(crate::timer::now() + timeout)
    }

    /// Takes a permit, waiting until `deadline` at the latest.
    #[track_caller]
    pub fn acquire_until(&self, deadline: Instant) -> Option<SemaphorePermit<'_>> {
        (self.acquire_inner(Some(deadline)) == Acquired::Granted).then(|| SemaphorePermit {
            sem: self,
            _hold: PlainHold::new(),
        })
    }

    /// Adds one permit (gives back one that was [`forget`](SemaphorePermit::forget)-ten,
    /// or grows the semaphore).
    pub fn release(&self) {
        self.sema.release();
    }

    /// Free permits right now (a snapshot).
    pub fn available_permits(&self) -> usize {
        self.sema.lock().count
    }

    #[track_caller]
    fn acquire_inner(&self, deadline: Option<Instant>) -> Acquired {
        self.sema.acquire(
            false,
            deadline,
            Wait::here(WaitReason::Semaphore),
            &|| Cancel::Leave,
            &|| self.sema.release(),
        )
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good (until [`Semaphore::release`]).
    pub fn forget(self) {
        // The permit stays taken, but this thread no longer holds it.
        let mut this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; the hold is dropped exactly once.
        unsafe { std::ptr::drop_in_place(&mut this._hold) };
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.sema.release();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

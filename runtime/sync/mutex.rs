//! [`Mutex`]: Go's `sync.Mutex` algorithm, including starvation mode.
//!
//! # The state word
//!
//! One `AtomicUsize`, laid out as Go's `mutexLocked | mutexWoken | mutexStarving |
//! waiters << mutexWaiterShift`:
//!
//! ```text
//!   bit 0   LOCKED    somebody owns the mutex
//!   bit 1   WOKEN     a waiter is awake and competing (woken by an unlock, or spinning):
//!                     unlockers need not wake another one
//!   bit 2   STARVING  starvation mode: ownership is handed to the head waiter on unlock
//!   bits 3+ waiters   goroutines/threads registered to wait on the semaphore
//! ```
//!
//! Locking is one CAS `0 -> LOCKED` (no allocation, no lock); unlocking one
//! `fetch_sub(LOCKED)` that returns 0 when nobody waits. Everything else is the slow path.
//!
//! # Normal and starvation mode
//!
//! In *normal mode* waiters queue FIFO on a semaphore ([`Sema`]), but a woken waiter does
//! not own the mutex: it competes with newly arriving lockers, which usually win (they are
//! already running on a CPU). That is fast and unfair. A woken waiter that loses goes back
//! to the *head* of the queue. A waiter that has waited more than 1 ms in total sets
//! STARVING (in the same CAS that re-registers it, while the mutex is locked).
//!
//! In *starvation mode* the unlocker hands ownership directly to the head waiter: it
//! clears LOCKED but leaves STARVING set, so new arrivals do not take the mutex and queue
//! at the tail instead (and do not spin). The woken waiter finds STARVING set, knows it
//! owns the mutex, and with one `fetch_add` sets LOCKED and unregisters itself. It turns
//! starvation mode off if it waited less than 1 ms or if it is the last waiter.
//!
//! Before registering, a locker spins a little (at most 4 rounds, only when other CPUs run
//! goroutines, Go's `canSpin`), setting WOKEN so the unlocker does not wake somebody who
//! would only lose to it.
//!
//! # Wakeups and timeouts
//!
//! An unlock in normal mode wakes one waiter only when there are waiters and nobody is
//! awake (WOKEN clear) and the mutex is not re-locked: it decrements `waiters`, sets
//! WOKEN and releases one unit of the semaphore, all decided by one CAS. The semaphore
//! remembers a unit released before its waiter queued, so no wakeup is lost. Invariant:
//! every registered waiter is either counted in `waiters` or has a unit of the semaphore
//! on its way (in normal mode exactly one unit per decrement; in starvation mode the
//! recipient unregisters itself).
//!
//! A waiter that gives up (timeout, or its goroutine is dropped at runtime teardown)
//! decides under the semaphore's lock, with its node still queued:
//!
//! - normal mode, `waiters > 0`: unregister (one CAS) and leave; any unit in flight goes to
//!   another registered waiter, which the count proves exists;
//! - normal mode, `waiters == 0`: a unit is already on its way to this very waiter (an
//!   unlocker counted it out): wait for it, then compete for the mutex once more;
//! - starvation mode: leave unless it is the only waiter and the mutex is unlocked (the
//!   handoff is then for it); the last waiter to leave a locked mutex turns starvation
//!   mode off.
//!
//! A goroutine unwound after a unit reached it passes it on: in starvation mode it owns
//! the mutex and unlocks it; in normal mode it clears WOKEN, taking and releasing the
//! mutex if it happens to be free (so the next waiter is woken).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;

use super::plain_hold::PlainHold;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::sema::{Acquired, Cancel, Sema};
use super::waitq::teardown_block;
use crate::context;
use crate::g::{Wait, WaitReason};

const LOCKED: usize = 1;
const WOKEN: usize = 1 << 1;
const STARVING: usize = 1 << 2;
const WAITER_SHIFT: u32 = 3;
/// One registered waiter in the count.
const WAITER: usize = 1 << WAITER_SHIFT;
/// Go's `starvationThresholdNs`: long enough that normal-mode throughput wins in the
/// common case, short enough that tail latency stays bounded.
const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);
/// Go's `active_spin`: rounds of spinning before registering as a waiter.
const ACTIVE_SPIN: u32 = 4;
/// Go's `active_spin_cnt`: pause instructions per round.
const ACTIVE_SPIN_CNT: u32 = 30;

/// The lock without the data: shared by [`Mutex`] and [`Condvar`](super::Condvar).
pub(crate) struct RawMutex {
    state: AtomicUsize,
    sema: Sema,
}

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicUsize::new(0),
            sema: Sema::new(0),
        }
    }

    #[inline]
    #[track_caller]
    pub(crate) fn lock(&self) {
        // Acquire: the previous owner's writes (released by its unlock) are visible.
        if self
            .state
            .compare_exchange(0, LOCKED, Acquire, Relaxed)
            .is_err()
        {
            self.lock_slow(None);
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let mut old = self.state.load(Relaxed);
        loop {
            if old & (LOCKED | STARVING) != 0 {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(old, old | LOCKED, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(s) => old = s,
            }
        }
    }

    /// Locks unless `deadline` passes first; true when locked.
    #[track_caller]
    pub(crate) fn lock_until(&self, deadline: Instant) -> bool {
        self.state
            .compare_exchange(0, LOCKED, Acquire, Relaxed)
            .is_ok()
            || self.lock_slow(Some(deadline))
    }

    /// Unlocks.
    ///
    /// # Safety
    /// The caller owns the lock (by a guard it now gives up).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        // Release: this owner's writes happen before the next owner's Acquire.
        let new = self.state.fetch_sub(LOCKED, Release).wrapping_sub(LOCKED);
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    fn is_locked(&self) -> bool {
        self.state.load(Relaxed) & LOCKED != 0
    }

    /// Go's `lockSlow`, with an optional deadline; true when locked. The wait site is
    /// the caller's.
    #[cold]
    #[track_caller]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        let mut wait_start: Option<Instant> = None;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0;
        let mut old = self.state.load(Relaxed);
        loop {
            // Spin while locked in normal mode: the owner may release soon. Never in
            // starvation mode: ownership goes to the waiters then.
            if old & (LOCKED | STARVING) == LOCKED && can_spin(iter) {
                // Set WOKEN so an unlock does not wake a waiter that would only lose.
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(old, old | WOKEN, Relaxed, Relaxed)
                        .is_ok()
                {
                    awoke = true;
                }
                for _ in 0..ACTIVE_SPIN_CNT {
                    gort_asm::spin_hint();
                }
                iter += 1;
                old = self.state.load(Relaxed);
                continue;
            }
            let mut new = old;
            // Do not grab a starving mutex: it belongs to the waiters.
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new += WAITER;
            }
            // Switch to starvation mode, but only if the mutex is locked (an unlocked
            // starving mutex would have no unlock to hand it over).
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                // We were woken (or set WOKEN spinning): we are no longer the one awake.
                new &= !WOKEN;
            }
            // Acquire: on the branch that takes the lock; on the register branch it
            // orders nothing, and the semaphore's lock orders the rest.
            match self.state.compare_exchange_weak(old, new, AcqRel, Relaxed) {
                Ok(_) => {
                    if old & (LOCKED | STARVING) == 0 {
                        return true; // locked with the CAS
                    }
                    // Registered. A waiter that already waited goes to the queue's head.
                    let lifo = wait_start.is_some();
                    let start = *wait_start.get_or_insert_with(crate::timer::now);
                    match self.sema.acquire(
                        lifo,
                        deadline,
                        Wait::here(WaitReason::Mutex),
                        &|| self.cancel_wait(),
                        &|| self.abandon_wakeup(),
                    ) {
                        Acquired::Granted => {}
                        Acquired::TimedOut => return false,
                        Acquired::Teardown => teardown_block("Mutex::lock"),
                    }
                    let waited = crate::timer::now().saturating_duration_since(start);
                    starving = starving || waited > STARVATION_THRESHOLD;
                    old = self.state.load(Relaxed);
                    if old & STARVING != 0 {
                        // Handed off: we own the mutex, but LOCKED is clear and we are
                        // still counted as a waiter. Fix both in one add.
                        debug_assert!(old & LOCKED == 0 && old >> WAITER_SHIFT != 0);
                        let mut delta = LOCKED.wrapping_sub(WAITER);
                        if !starving || old >> WAITER_SHIFT == 1 {
                            // Leave starvation mode: it costs throughput, and with us
                            // the last waiter nobody else would turn it off.
                            delta = delta.wrapping_sub(STARVING);
                        }
                        // Acquire: pairs with the unlocker's release, as the CAS does.
                        self.state.fetch_add(delta, Acquire);
                        return true;
                    }
                    awoke = true;
                    iter = 0;
                }
                Err(s) => old = s,
            }
        }
    }

    /// Go's `unlockSlow`: wake a waiter (normal mode) or hand ownership over (starving).
    #[cold]
    fn unlock_slow(&self, new: usize) {
        debug_assert!(
            new.wrapping_add(LOCKED) & LOCKED != 0,
            "gort::sync: unlock of an unlocked Mutex"
        );
        if new & STARVING == 0 {
            let mut old = new;
            loop {
                // Nobody to wake, or somebody already locked it, is awake, or the mutex
                // went starving (then its unlock hands it over).
                if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                    return;
                }
                // Take one waiter out of the count and mark it awake.
                let new = (old - WAITER) | WOKEN;
                match self.state.compare_exchange_weak(old, new, Release, Relaxed) {
                    Ok(_) => {
                        self.sema.release();
                        return;
                    }
                    Err(s) => old = s,
                }
            }
        } else {
            // Starvation mode: the head waiter gets the mutex. LOCKED stays clear until it
            // sets it, but STARVING keeps new lockers out meanwhile.
            self.sema.release();
        }
    }

    /// A registered waiter stops waiting un-granted (see the module docs); runs under
    /// the semaphore's lock with the waiter's node queued.
    fn cancel_wait(&self) -> Cancel {
        let mut old = self.state.load(Relaxed);
        loop {
            let waiters = old >> WAITER_SHIFT;
            let new = if old & STARVING != 0 {
                if waiters >= 2 {
                    old - WAITER
                } else if old & LOCKED != 0 {
                    // The last waiter of a locked, starving mutex: back to normal mode.
                    (old - WAITER) & !STARVING
                } else {
                    // Unlocked while starving: the handoff in flight is ours.
                    return Cancel::Wait;
                }
            } else if waiters >= 1 {
                old - WAITER
            } else {
                // An unlocker counted us out: its unit is on the way to us.
                return Cancel::Wait;
            };
            match self.state.compare_exchange_weak(old, new, AcqRel, Relaxed) {
                Ok(_) => return Cancel::Leave,
                Err(s) => old = s,
            }
        }
    }

    /// A waiter is unwound holding a unit of the semaphore: pass it on.
    fn abandon_wakeup(&self) {
        let old = self.state.load(Relaxed);
        if old & STARVING != 0 {
            // A handoff: we own the mutex. Take it properly, then unlock (handing it on).
            let mut delta = LOCKED.wrapping_sub(WAITER);
            if old >> WAITER_SHIFT == 1 {
                delta = delta.wrapping_sub(STARVING);
            }
            self.state.fetch_add(delta, Acquire);
            // SAFETY: the add above made us the owner.
            unsafe { self.unlock() };
            return;
        }
        // A normal wakeup: we are the waiter marked WOKEN. Stop being it; if the mutex
        // is free, lock and unlock it so that the next waiter is woken.
        let mut old = old;
        loop {
            let take = old & (LOCKED | STARVING) == 0;
            let new = if take {
                (old | LOCKED) & !WOKEN
            } else {
                old & !WOKEN
            };
            match self.state.compare_exchange_weak(old, new, AcqRel, Relaxed) {
                Ok(_) => {
                    if take {
                        // SAFETY: the CAS set LOCKED for us.
                        unsafe { self.unlock() };
                    }
                    return;
                }
                Err(s) => old = s,
            }
        }
    }
}

/// Go's `sync_runtime_canSpin`: spin only a few rounds, on a multicore machine, and
/// (on a goroutine) only when another P is running goroutines that could unlock.
fn can_spin(iter: u32) -> bool {
    if iter >= ACTIVE_SPIN || ncpu() <= 1 {
        return false;
    }
    let ctx = context::current();
    if ctx.is_null() {
        return true;
    }
    // SAFETY: a non-null `current()` is this M's live context; we only read through it
    // here, before any switch.
    let sched = unsafe { &(*ctx).sched };
    let busy = sched.config.procs
        - sched
            .npidle
            .load(Relaxed)
            .saturating_add(sched.nmspinning.load(Relaxed))
            .min(sched.config.procs);
    busy > 1
}

fn ncpu() -> usize {
    static NCPU: OnceLock<usize> = OnceLock::new();
    *NCPU.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A mutual-exclusion lock protecting a `T`, for goroutines and threads alike.
///
/// A contended [`lock`](Mutex::lock) parks the calling goroutine (never its OS thread);
/// from a plain thread it blocks the thread. The algorithm is Go's `sync.Mutex`: unfair
/// and fast normally, handing the lock over in FIFO order once a waiter has waited more
/// than 1 ms (the state word is described in `runtime/sync/mutex.rs`). Uncontended lock and
/// unlock are one atomic instruction each.
///
/// Unlike `std::sync::Mutex` there is no poisoning (see [`gort::sync`](super)): a panic
/// that unwinds through a guard unlocks the mutex, and the data is whatever the
/// panicking code left.
///
/// ```
/// use std::sync::Arc;
/// gort::run(|| {
///     let m = Arc::new(gort::sync::Mutex::new(0));
///     let hs: Vec<_> = (0..100)
///         .map(|_| {
///             let m = m.clone();
///             gort::spawn(move || *m.lock() += 1)
///         })
///         .collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     assert_eq!(*m.lock(), 100);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    pub(crate) raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands `T` between threads (so `T: Send`) and gives `&mut T` to one
// owner at a time, so sharing the mutex needs nothing more than `T: Send`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: access to `T` is exclusive under the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Proof of holding a [`Mutex`]; unlocks when dropped (also when unwound by a panic).
///
/// Unlike std's, this guard may be held across scheduling points and may be dropped on
/// another thread: a goroutine moves between OS threads, and the lock does not care which
/// thread unlocks it.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
    _hold: PlainHold,
    /// Makes the guard `Send` only when `T: Send` (it hands out `&mut T`).
    _marker: PhantomData<&'a mut T>,
}

// SAFETY: sharing a guard shares `&T`, which needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking the goroutine (or blocking the thread) while another owner holds
    /// the lock.
    ///
    /// Locking a mutex the caller already holds deadlocks, as in Go.
    ///
    /// # Panics
    /// When called during runtime teardown (by a destructor of a goroutine being dropped)
    /// on a mutex that only a dropped goroutine could unlock.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        crate::checkpoint();
        self.raw.lock();
        self.guard()
    }

    /// Locks if the mutex is free right now (and not reserved for a starving waiter).
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| self.guard())
    }

    /// Locks, waiting at most `timeout`; `None` if the lock could not be had in time.
    #[track_caller]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.try_lock_until(crate::timer::now() + timeout)
    }

    /// Locks, waiting until `deadline` at the latest; `None` if the lock could not be
    /// had in time.
    #[track_caller]
    pub fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T>> {
        self.raw.lock_until(deadline).then(|| self.guard())
    }

    /// Mutable access without locking: the borrow proves nobody else can lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Whether somebody holds the lock right now (a snapshot, for diagnostics).
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Whether the mutex is in starvation mode (a snapshot, for tests and diagnostics).
    #[doc(hidden)]
    pub fn is_starving(&self) -> bool {
        self.raw.state.load(Relaxed) & STARVING != 0
    }

    /// How many lockers are registered as waiting (a snapshot, for tests).
    #[doc(hidden)]
    pub fn waiters(&self) -> usize {
        self.raw.state.load(Relaxed) >> WAITER_SHIFT
    }

    pub(crate) fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex: self,
            _hold: PlainHold::new(),
            _marker: PhantomData,
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock, so no `&mut T` exists elsewhere.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock exclusively, and `&mut self` makes
        // this the only borrow through it.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a guard exists only while its mutex is locked by it.
        unsafe { self.mutex.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

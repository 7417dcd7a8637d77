//! [`RwLock`]: many readers or one writer, with writer preference (like Go's
//! `sync.RWMutex`: once a writer waits, new readers wait behind it).
//!
//! # The state word
//!
//! ```text
//!   bit 0   WRITER           a writer holds the lock
//!   bit 1   WRITER_WAITING   writers are queued: new readers must queue too
//!   bit 2   READERS_WAITING  readers are queued (an unlocking writer must serve them)
//!   bits 3+ readers          readers holding the lock
//! ```
//!
//! Fast paths are single CASes: a reader adds one reader while neither WRITER nor
//! WRITER_WAITING is set, a writer swaps `0 -> WRITER`, and unlocks undo that when no
//! waiting bit is set. Every other transition, and every queue, is handled under one
//! short lock (never held across a park), and ownership is *granted* under it: the waker
//! updates the state on the waiter's behalf before waking it, so a woken waiter already
//! holds the lock and there is nothing to race for.
//!
//! - The last reader out, with WRITER_WAITING set, grants the head writer.
//! - An unlocking writer grants *all* queued readers first (each counted in), then the
//!   next writer when they are done: readers and writers alternate, so neither starves.
//! - A waiter that gives up (timeout, or its goroutine dropped at teardown) removes itself
//!   under the lock; if it was the last queued writer it clears WRITER_WAITING and, if no
//!   writer holds the lock, grants the readers that queued behind it. A waiter unwound
//!   after it was granted unlocks what it was given.
//!
//! Lost wakeups are impossible because a waiter sets its waiting bit and queues under the
//! lock, re-checking the state there, and every unlock that sees a waiting bit takes the
//! lock before deciding.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

use parking_lot::Mutex as Lock;

use super::plain_hold::PlainHold;
use super::waitq::{park_on, teardown_block, Node, OnUnwind, Parked, WaitQueue, WakeAll};
use crate::g::{Wait, WaitReason};

const WRITER: usize = 1;
const WRITER_WAITING: usize = 1 << 1;
const READERS_WAITING: usize = 1 << 2;
const READER_SHIFT: u32 = 3;
const ONE_READER: usize = 1 << READER_SHIFT;

struct Queues {
    readers: WaitQueue,
    writers: WaitQueue,
}

/// A reader-writer lock protecting a `T`, for goroutines and threads alike.
///
/// Any number of readers may hold it at once, or one writer. Contended calls park the
/// goroutine (block a plain thread). Writers are preferred: once a writer waits, new
/// readers queue behind it, so a stream of readers cannot starve writers; an unlocking
/// writer lets all queued readers in before the next writer.
///
/// As with Go's `RWMutex`, a goroutine must not take a read lock it already holds again
/// if a writer may be waiting in between (the second read waits for the writer, which
/// waits for the first read): that deadlocks. No poisoning (see [`gort::sync`](super)).
///
/// ```
/// gort::run(|| {
///     let l = gort::sync::RwLock::new(vec![1]);
///     {
///         let (a, b) = (l.read(), l.read());
///         assert_eq!(a.len() + b.len(), 2);
///     }
///     l.write().push(2);
///     assert_eq!(*l.read(), [1, 2]);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    state: AtomicUsize,
    queues: Lock<Queues>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock moves `T` between threads (so `T: Send`).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers share `&T` across threads (`T: Sync`), a writer gets `&mut T` on any
// thread (`T: Send`); the state word makes those accesses exclusive.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Shared access to an [`RwLock`]'s data; releases it when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _hold: PlainHold,
}

/// Exclusive access to an [`RwLock`]'s data; releases it when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _hold: PlainHold,
    _marker: PhantomData<&'a mut T>,
}

// SAFETY: sharing a write guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            state: AtomicUsize::new(0),
            queues: Lock::new(Queues {
                readers: WaitQueue::new(),
                writers: WaitQueue::new(),
            }),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a read lock, waiting while a writer holds or waits for the lock.
    ///
    /// # Panics
    /// During runtime teardown, if only a dropped goroutine could release the lock.
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        crate::checkpoint();
        if !self.try_read_fast() && !self.read_slow(None) {
            unreachable!("an untimed read lock returns only when granted");
        }
        RwLockReadGuard {
            lock: self,
            _hold: PlainHold::new(),
        }
    }

    /// Takes a read lock if that needs no waiting.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.try_read_fast().then(|| RwLockReadGuard {
            lock: self,
            _hold: PlainHold::new(),
        })
    }

    /// Takes a read lock, waiting at most `timeout`.
    #[track_caller]
    pub fn try_read_for(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        self.try_read_until(crate::timer::now() + timeout)
    }

    /// Takes a read lock, waiting until `deadline` at the latest.
    #[track_caller]
    pub fn try_read_until(&self, deadline: Instant) -> Option<RwLockReadGuard<'_, T>> {
        (self.try_read_fast() || self.read_slow(Some(deadline))).then(|| RwLockReadGuard {
            lock: self,
            _hold: PlainHold::new(),
        })
    }

    /// Takes the write lock, waiting for readers and writers to leave.
    ///
    /// # Panics
    /// During runtime teardown, if only a dropped goroutine could release the lock.
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        crate::checkpoint();
        if !self.try_write_fast() && !self.write_slow(None) {
            unreachable!("an untimed write lock returns only when granted");
        }
        self.write_guard()
    }

    /// Takes the write lock if that needs no waiting.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.try_write_fast().then(|| self.write_guard())
    }

    /// Takes the write lock, waiting at most `timeout`.
    #[track_caller]
    pub fn try_write_for(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        self.try_write_until(crate::timer::now() + timeout)
    }

    /// Takes the write lock, waiting until `deadline` at the latest.
    #[track_caller]
    pub fn try_write_until(&self, deadline: Instant) -> Option<RwLockWriteGuard<'_, T>> {
        (self.try_write_fast() || self.write_slow(Some(deadline))).then(|| self.write_guard())
    }

    /// Mutable access without locking: the borrow proves nobody else holds the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            _hold: PlainHold::new(),
            _marker: PhantomData,
        }
    }

    fn try_read_fast(&self) -> bool {
        let mut s = self.state.load(Relaxed);
        while s & (WRITER | WRITER_WAITING) == 0 {
            // Acquire: the last writer's writes (released by its unlock) are visible.
            match self
                .state
                .compare_exchange_weak(s, s + ONE_READER, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    fn try_write_fast(&self) -> bool {
        let mut s = self.state.load(Relaxed);
        // Free of holders (waiting bits may be set: a free lock with queued writers only
        // exists for the moment before the last reader's grant, which then finds it taken).
        while s & WRITER == 0 && s >> READER_SHIFT == 0 {
            match self
                .state
                .compare_exchange_weak(s, s | WRITER, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    #[cold]
    #[track_caller]
    fn read_slow(&self, deadline: Option<Instant>) -> bool {
        let node = Node::new();
        {
            let mut q = self.queues.lock();
            let mut s = self.state.load(Relaxed);
            loop {
                let can_read = s & (WRITER | WRITER_WAITING) == 0;
                let new = if can_read {
                    s + ONE_READER
                } else {
                    s | READERS_WAITING
                };
                match self.state.compare_exchange_weak(s, new, Acquire, Relaxed) {
                    Ok(_) if can_read => return true,
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
            // SAFETY: `node` lives in this frame, which returns only after seeing it
            // notified or removing it under this lock; `guard` does that on unwind.
            unsafe { q.readers.push_back(&node) };
        }
        let guard = OnUnwind::new(|| {
            if !self.leave_reader(&node) {
                // Granted, then unwound: give the read lock back.
                self.read_unlock();
            }
        });
        let parked = park_on(&node, deadline, Wait::here(WaitReason::RwLockRead));
        let got = parked == Parked::Notified || !self.leave_reader(&node);
        guard.defuse();
        if !got && parked == Parked::Teardown {
            teardown_block("RwLock::read");
        }
        got
    }

    /// Under the lock: removes a reader that gives up; false if it was granted already.
    fn leave_reader(&self, node: &Node) -> bool {
        let mut q = self.queues.lock();
        if !q.readers.remove(node) {
            return false;
        }
        if q.readers.is_empty() {
            self.state.fetch_and(!READERS_WAITING, Relaxed);
        }
        true
    }

    #[cold]
    #[track_caller]
    fn write_slow(&self, deadline: Option<Instant>) -> bool {
        let node = Node::new();
        {
            let mut q = self.queues.lock();
            let mut s = self.state.load(Relaxed);
            loop {
                let free = s & WRITER == 0 && s >> READER_SHIFT == 0;
                let new = if free { s | WRITER } else { s | WRITER_WAITING };
                match self.state.compare_exchange_weak(s, new, Acquire, Relaxed) {
                    Ok(_) if free => return true,
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
            // SAFETY: as in `read_slow`.
            unsafe { q.writers.push_back(&node) };
        }
        let guard = OnUnwind::new(|| {
            if !self.leave_writer(&node) {
                // SAFETY: the grant made us the writer.
                unsafe { self.write_unlock() };
            }
        });
        let parked = park_on(&node, deadline, Wait::here(WaitReason::RwLockWrite));
        let got = parked == Parked::Notified || !self.leave_writer(&node);
        guard.defuse();
        if !got && parked == Parked::Teardown {
            teardown_block("RwLock::write");
        }
        got
    }

    /// Under the lock: removes a writer that gives up; false if it was granted already.
    /// The last queued writer to leave lets the readers queued behind it in.
    fn leave_writer(&self, node: &Node) -> bool {
        let wake = {
            let mut q = self.queues.lock();
            if !q.writers.remove(node) {
                return false;
            }
            if !q.writers.is_empty() {
                return true;
            }
            self.state.fetch_and(!WRITER_WAITING, Relaxed);
            if q.readers.is_empty() {
                return true;
            }
            match self.grant_readers(&mut q, false) {
                Some(all) => all,
                None => return true,
            }
        };
        wake.wake();
        true
    }

    /// Under the lock: counts every queued reader in (clearing WRITER when the caller is
    /// the unlocking writer) and pops them, to be woken after unlocking. `None` when a
    /// writer barged in meanwhile (`!clear_writer` only): its unlock serves the readers.
    fn grant_readers(&self, q: &mut Queues, clear_writer: bool) -> Option<WakeAll> {
        let n = q.readers.len();
        let mut s = self.state.load(Relaxed);
        loop {
            if !clear_writer && s & WRITER != 0 {
                return None;
            }
            let new = (s & !(WRITER | READERS_WAITING)) + n * ONE_READER;
            // Release: an unlocking writer's writes happen before the readers' access
            // (they also synchronise through their nodes' `notified`).
            match self.state.compare_exchange_weak(s, new, Release, Relaxed) {
                Ok(_) => return Some(q.readers.notify_all()),
                Err(now) => s = now,
            }
        }
    }

    fn read_unlock(&self) {
        // Release: this reader's reads happen before a later writer's access.
        let s = self.state.fetch_sub(ONE_READER, Release) - ONE_READER;
        if s >> READER_SHIFT == 0 && s & WRITER_WAITING != 0 {
            self.read_unlock_slow();
        }
    }

    /// The last reader left while writers wait: grant the head writer.
    #[cold]
    fn read_unlock_slow(&self) {
        let w = {
            let mut q = self.queues.lock();
            let mut s = self.state.load(Relaxed);
            loop {
                // Re-check under the lock: a writer may have barged in (try_write) or the
                // queued writers may have given up.
                if s & WRITER != 0 || s >> READER_SHIFT != 0 || q.writers.is_empty() {
                    return;
                }
                let mut new = s | WRITER;
                if q.writers.len() == 1 {
                    new &= !WRITER_WAITING;
                }
                match self.state.compare_exchange_weak(s, new, AcqRel, Relaxed) {
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
            q.writers.notify_one().expect("a queued writer")
        };
        w.wake();
    }

    /// # Safety
    /// The caller is the writer (by a guard it gives up).
    unsafe fn write_unlock(&self) {
        // Release: the writer's writes happen before the next holder's Acquire.
        if self
            .state
            .compare_exchange(WRITER, 0, Release, Relaxed)
            .is_ok()
        {
            return;
        }
        self.write_unlock_slow();
    }

    /// Waiters exist: queued readers go first (all of them), else the next writer.
    #[cold]
    fn write_unlock_slow(&self) {
        enum Next {
            Readers(WakeAll),
            Writer(super::waitq::Wake),
            Nobody,
        }
        let next = {
            let mut q = self.queues.lock();
            if !q.readers.is_empty() {
                // Readers first: drop WRITER and count them in with one CAS (a barging
                // writer must not slip in between), keep WRITER_WAITING if writers remain.
                Next::Readers(self.grant_readers(&mut q, true).expect("we are the writer"))
            } else if !q.writers.is_empty() {
                // Hand the write lock straight over: WRITER stays set.
                if q.writers.len() == 1 {
                    self.state.fetch_and(!WRITER_WAITING, Release);
                }
                // Release/Acquire through the node's `notified` orders our writes
                // before the next writer's.
                Next::Writer(q.writers.notify_one().expect("a queued writer"))
            } else {
                self.state.fetch_and(!(WRITER | WRITER_WAITING), Release);
                Next::Nobody
            }
        };
        match next {
            Next::Readers(all) => all.wake(),
            Next::Writer(w) => w.wake(),
            Next::Nobody => {}
        }
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard proves no writer holds the lock, so no `&mut T` exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write guard proves exclusive access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write guard proves exclusive access; `&mut self` makes this the
        // only borrow through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: a write guard exists only while it holds the write lock.
        unsafe { self.lock.write_unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

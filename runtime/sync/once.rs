//! [`Once`] and [`OnceLock`]: one-time initialisation; callers that arrive while another
//! goroutine runs the initialiser park until it finishes (Go's `sync.Once`).
//!
//! State: INCOMPLETE -> RUNNING (one CAS elects the initialiser) -> COMPLETE. The fast
//! path of a completed `Once` is one `Acquire` load. Waiters re-check RUNNING under the
//! waiter list's lock before queueing; the initialiser stores the new state before taking
//! that lock to wake them, so none is missed. If the initialiser panics the state goes
//! back to INCOMPLETE and the waiters wake up to elect a new one (no poisoning).

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering::*};

use parking_lot::Mutex as Lock;

use super::waitq::{park_on, teardown_block, Node, OnUnwind, Parked, WaitQueue};
use crate::g::{Wait, WaitReason};

const INCOMPLETE: u8 = 0;
const RUNNING: u8 = 1;
const COMPLETE: u8 = 2;

/// Runs a closure exactly once, however many goroutines and threads race to.
///
/// Callers that arrive while the closure runs park (a goroutine, not its thread) and
/// return once it has completed, seeing everything it wrote. If the closure panics, the
/// `Once` is not poisoned: it stays incomplete and a later (or waiting) caller runs its
/// own closure. Calling `call_once` on the same `Once` from inside its closure deadlocks.
///
/// ```
/// static INIT: gort::sync::Once = gort::sync::Once::new();
/// gort::run(|| {
///     let hs: Vec<_> = (0..10).map(|_| gort::spawn(|| INIT.call_once(|| println!("once")))).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     assert!(INIT.is_completed());
/// });
/// ```
pub struct Once {
    state: AtomicU8,
    waiters: Lock<WaitQueue>,
}

impl Once {
    /// A `Once` that has not run.
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(INCOMPLETE),
            waiters: Lock::new(WaitQueue::new()),
        }
    }

    /// Whether a closure has completed.
    pub fn is_completed(&self) -> bool {
        self.state.load(Acquire) == COMPLETE
    }

    /// Runs `f` if no closure has completed yet; waits if another caller's closure is
    /// running. When this returns, a closure has completed.
    ///
    /// # Panics
    /// If `f` panics (the panic propagates; the `Once` stays incomplete). During
    /// runtime teardown, if a dropped goroutine was running the initialiser.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        // Acquire: pairs with the initialiser's Release store of COMPLETE.
        if self.state.load(Acquire) == COMPLETE {
            return;
        }
        let mut f = Some(f);
        self.call_slow(&mut || (f.take().expect("the closure runs once"))());
    }

    #[cold]
    #[track_caller]
    fn call_slow(&self, f: &mut dyn FnMut()) {
        loop {
            match self
                .state
                .compare_exchange(INCOMPLETE, RUNNING, Acquire, Acquire)
            {
                Ok(_) => {
                    let failed = OnUnwind::new(|| self.finish(INCOMPLETE));
                    f();
                    failed.defuse();
                    self.finish(COMPLETE);
                    return;
                }
                Err(COMPLETE) => return,
                Err(_) => self.wait_running(),
            }
        }
    }

    /// Publishes the initialiser's outcome and wakes every waiter.
    fn finish(&self, state: u8) {
        // Release: the initialiser's writes happen before the waiters' Acquire loads.
        self.state.store(state, Release);
        let all = self.waiters.lock().notify_all();
        all.wake();
    }

    /// Parks until the running initialiser finishes (either way).
    #[track_caller]
    fn wait_running(&self) {
        let node = Node::new();
        {
            let mut q = self.waiters.lock();
            if self.state.load(Acquire) != RUNNING {
                return;
            }
            // SAFETY: `node` lives in this frame, which returns only after it was
            // notified or removed under this lock; on unwind `unwound` removes it first.
            unsafe { q.push_back(&node) };
        }
        let unwound = OnUnwind::new(|| {
            self.waiters.lock().remove(&node);
        });
        let parked = park_on(&node, None, Wait::here(WaitReason::Once));
        let removed = parked != Parked::Notified && self.waiters.lock().remove(&node);
        unwound.defuse();
        if removed {
            teardown_block("Once::call_once");
        }
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish()
    }
}

/// A cell written once; readers that arrive during the initialisation park until it is
/// done.
///
/// ```
/// static CONFIG: gort::sync::OnceLock<String> = gort::sync::OnceLock::new();
/// gort::run(|| {
///     let hs: Vec<_> = (0..10)
///         .map(|_| gort::spawn(|| CONFIG.get_or_init(|| "loaded".to_string()).len()))
///         .collect();
///     assert!(hs.into_iter().all(|h| h.join().unwrap() == 6));
///     assert_eq!(CONFIG.set("again".into()), Err("again".to_string()));
/// });
/// ```
pub struct OnceLock<T> {
    once: Once,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by the initialiser, before `once` completes
// (Release), and only read after completion is observed (Acquire); it may be created on
// one thread and dropped on another (`T: Send`) and shared (`T: Sync`).
unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}
// SAFETY: moving the cell moves the `T`.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if initialised (never waits).
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: completion (observed with Acquire) means the value was written and
            // will never be written again while `&self` lives.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value, mutably, if initialised.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.once.is_completed() {
            // SAFETY: initialised (as in `get`), and `&mut self` is exclusive.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// The value, initialising it with `f` if nobody has; if another caller is
    /// initialising it, parks until that finishes. If `f` panics the cell stays empty.
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        self.once.call_once(|| {
            let v = f();
            // SAFETY: we are the one initialiser (RUNNING), nobody reads before COMPLETE.
            unsafe { (*self.value.get()).write(v) };
        });
        self.get().expect("initialised by call_once")
    }

    /// Stores `value` if the cell is empty; otherwise gives it back. Waits if another
    /// caller is initialising the cell.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken once"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// Consumes the cell, returning the value if it was initialised.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        if self.once.is_completed() {
            *self.once.state.get_mut() = INCOMPLETE;
            // SAFETY: it was initialised and is now marked empty, so it is read once.
            Some(unsafe { self.value.get_mut().assume_init_read() })
        } else {
            None
        }
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        if self.once.is_completed() {
            // SAFETY: initialised, and dropped once (we are in Drop).
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

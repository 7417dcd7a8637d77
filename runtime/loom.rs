//! The atomics, cells and locks that the model-checked parts of the runtime (the local run
//! queue, the park state machine, the channels' waiter protocol, the trace buffers) use: `std`'s (and
//! `parking_lot`'s) in a normal build, `loom`'s under `--cfg loom`, so the same code is
//! what runs and what is checked.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicUsize};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicUsize};

pub(crate) use std::sync::atomic::Ordering;

/// A mutual-exclusion lock: `parking_lot`'s normally (it cannot be modelled), `loom`'s
/// under `--cfg loom`. Only `new` and `lock` are offered; a poisoned loom lock panics.
pub(crate) struct Mutex<T>(
    #[cfg(not(loom))] parking_lot::Mutex<T>,
    #[cfg(loom)] loom::sync::Mutex<T>,
);

#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(v: T) -> Self {
        #[cfg(not(loom))]
        return Mutex(parking_lot::Mutex::new(v));
        #[cfg(loom)]
        return Mutex(loom::sync::Mutex::new(v));
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        return self.0.lock();
        #[cfg(loom)]
        return self.0.lock().unwrap();
    }
}

/// An `UnsafeCell` with loom's closure API (`with`, `with_mut`), so that under
/// `--cfg loom` every access is checked for causality; a plain `UnsafeCell` otherwise.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// An `UnsafeCell` with loom's closure API (`with`, `with_mut`), so that under
/// `--cfg loom` every access is checked for causality; a plain `UnsafeCell` otherwise.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(v))
    }

    #[allow(dead_code)]
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// A busy-wait hint: the CPU's, or a yield to loom's scheduler under `--cfg loom`.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    gort_asm::spin_hint();
}

//! A goroutine's closure and result in one allocation (`Packet`), and the handles that
//! wait for it ([`JoinHandle`]).
//!
//! The goroutine takes the closure out, runs it under `catch_unwind`, stores the result,
//! sets `done` (release) and wakes the registered waiter. A joiner checks `done`
//! (acquire), and otherwise registers itself under the waiter lock, re-checking `done`
//! there so a completion between the two cannot be missed, and parks until `done`.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use crate::context;
use crate::g::{Task, Wait, WaitReason};
use crate::waiter::{park_current, Waiter};

enum Stage<F, T> {
    Pending(F),
    Done(thread::Result<T>),
    Taken,
}

/// Scope bookkeeping shared by the goroutines of one `gort::scope`.
pub(crate) struct ScopeData {
    pub(crate) running: AtomicUsize,
    pub(crate) unjoined_panics: AtomicUsize,
    pub(crate) waiter: Mutex<Option<Waiter>>,
}

impl ScopeData {
    pub(crate) fn new() -> Self {
        ScopeData {
            running: AtomicUsize::new(0),
            unjoined_panics: AtomicUsize::new(0),
            waiter: Mutex::new(None),
        }
    }

    fn goroutine_done(&self) {
        if self.running.fetch_sub(1, AcqRel) == 1 {
            if let Some(w) = self.waiter.lock().take() {
                w.wake();
            }
        }
    }
}

pub(crate) struct Packet<F, T> {
    done: AtomicBool,
    waiter: Mutex<Option<Waiter>>,
    stage: UnsafeCell<Stage<F, T>>,
    scope: Option<Arc<ScopeData>>,
}

// SAFETY: `stage` is accessed by one side at a time: the goroutine until it sets `done`
// (release), then the single JoinHandle after it observes `done` (acquire). F and T move
// between threads, hence the `Send` bounds.
unsafe impl<F: Send, T: Send> Sync for Packet<F, T> {}

impl<F, T> Packet<F, T> {
    pub(crate) fn new(f: F, scope: Option<Arc<ScopeData>>) -> Self {
        Packet {
            done: AtomicBool::new(false),
            waiter: Mutex::new(None),
            stage: UnsafeCell::new(Stage::Pending(f)),
            scope,
        }
    }

    fn complete(&self, result: thread::Result<T>) {
        // Leaves the cap on live goroutines before `done` lets a joiner spawn again.
        crate::spawn::goroutine_done();
        if let (Some(scope), true) = (&self.scope, result.is_err()) {
            scope.unjoined_panics.fetch_add(1, AcqRel);
        }
        // SAFETY: before `done` is set only the goroutine touches `stage`.
        unsafe { *self.stage.get() = Stage::Done(result) };
        self.done.store(true, Release);
        let w = self.waiter.lock().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<F, T> Task for Packet<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Arc<Self>) {
        // SAFETY: before `done` only the goroutine touches `stage`, and it runs once.
        let stage = unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Taken) };
        let Stage::Pending(f) = stage else {
            unreachable!("a goroutine's closure runs once")
        };
        let result = catch_unwind(AssertUnwindSafe(f));
        if let (Err(_), true) = (&result, context::in_teardown()) {
            // The runtime is dropping this suspended goroutine: the "panic" is
            // corosensei's forced unwind, which must reach the coroutine's root.
            let Err(payload) = result else { unreachable!() };
            std::panic::resume_unwind(payload);
        }
        crate::trace::points::go_done_here();
        self.complete(result);
        let scope = self.scope.clone();
        // Drop our reference (and, if the handle is gone, the result) before the scope
        // may end: a scoped result can borrow from the scope's caller.
        drop(self);
        if let Some(scope) = scope {
            scope.goroutine_done();
        }
    }

    fn fail(self: Arc<Self>, message: String) {
        // SAFETY: as in `run`; the closure is dropped unrun.
        drop(unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Taken) });
        self.complete(Err(Box::new(message)));
        let scope = self.scope.clone();
        drop(self);
        if let Some(scope) = scope {
            scope.goroutine_done();
        }
    }
}

/// The joining side of a packet, with the closure type erased.
pub(crate) trait JoinTarget<T>: Send + Sync {
    fn is_done(&self) -> bool;
    /// Registers `w` to be woken at completion; false if already complete.
    fn register(&self, w: Waiter) -> bool;
    /// # Safety
    /// Call once, after `is_done()` returned true.
    unsafe fn take(&self) -> thread::Result<T>;
    fn scope(&self) -> Option<&ScopeData>;
}

impl<F: Send, T: Send> JoinTarget<T> for Packet<F, T> {
    fn is_done(&self) -> bool {
        self.done.load(Acquire)
    }

    fn register(&self, w: Waiter) -> bool {
        let mut slot = self.waiter.lock();
        if self.done.load(Acquire) {
            return false;
        }
        *slot = Some(w);
        true
    }

    unsafe fn take(&self) -> thread::Result<T> {
        // SAFETY: `done` was observed with acquire, so the goroutine has finished with
        // `stage`; the caller takes once.
        match unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Taken) } {
            Stage::Done(r) => r,
            _ => unreachable!("join result taken twice"),
        }
    }

    fn scope(&self) -> Option<&ScopeData> {
        self.scope.as_deref()
    }
}

/// Waits for a packet: shared by [`JoinHandle`] and scoped handles.
pub(crate) struct RawJoin<'a, T> {
    pub(crate) packet: Arc<dyn JoinTarget<T> + 'a>,
    pub(crate) id: u64,
}

impl<T> RawJoin<'_, T> {
    #[track_caller]
    pub(crate) fn join(self) -> thread::Result<T> {
        match self.join_unless(|| None::<()>) {
            Ok(r) => r,
            Err(()) => unreachable!("never gives up"),
        }
    }

    /// Waits for the goroutine unless `give_up` returns something first (checked at
    /// every wakeup). The wait site is the caller's (`#[track_caller]` all the way up).
    #[track_caller]
    pub(crate) fn join_unless<E>(
        self,
        give_up: impl Fn() -> Option<E>,
    ) -> Result<thread::Result<T>, E> {
        let p = &self.packet;
        if !p.is_done() && p.register(Waiter::current()) {
            while !p.is_done() {
                if context::in_teardown() {
                    return Ok(Err(Box::new(
                        "gort: the runtime shut down before the goroutine finished",
                    )));
                }
                if let Some(e) = give_up() {
                    return Err(e);
                }
                park_current(Wait::here(WaitReason::Join));
            }
        }
        // SAFETY: `is_done()` is true (either branch above ends only then); one take.
        let r = unsafe { p.take() };
        if let (Err(_), Some(scope)) = (&r, p.scope()) {
            scope.unjoined_panics.fetch_sub(1, AcqRel);
        }
        Ok(r)
    }
}

/// An owned permission to wait for a goroutine and take its result (like
/// `std::thread::JoinHandle`). Dropping it detaches the goroutine.
pub struct JoinHandle<T> {
    pub(crate) raw: RawJoin<'static, T>,
}

impl<T> JoinHandle<T> {
    /// Waits for the goroutine to finish: parks only the calling goroutine when called
    /// from one, blocks the thread when called from a plain thread. A panic in the
    /// goroutine comes back as `Err` with the panic payload.
    #[track_caller]
    pub fn join(self) -> thread::Result<T> {
        self.raw.join()
    }

    /// Whether the goroutine has finished (its result is ready).
    pub fn is_finished(&self) -> bool {
        self.raw.packet.is_done()
    }

    /// The goroutine's id.
    pub fn id(&self) -> u64 {
        self.raw.id
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.raw.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A handle to a goroutine spawned in a [`scope`](crate::scope).
pub struct ScopedJoinHandle<'scope, T> {
    pub(crate) raw: RawJoin<'scope, T>,
    pub(crate) _scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the goroutine and returns its result; a panic comes back as `Err` and
    /// then no longer makes the scope panic.
    #[track_caller]
    pub fn join(self) -> thread::Result<T> {
        self.raw.join()
    }

    /// Whether the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.raw.packet.is_done()
    }

    /// The goroutine's id.
    pub fn id(&self) -> u64 {
        self.raw.id
    }
}

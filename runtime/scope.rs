//! Scoped goroutines that borrow from their caller (like `std::thread::scope`).
//!
//! `scope` does not return until every goroutine spawned in it has finished, even if
//! the closure panics, so borrows of the caller's stack outlive their users. The
//! lifetime erasure that makes a borrowing goroutine look `'static` to the scheduler
//! is justified by that wait; a handle that is `mem::forget`-ten changes nothing,
//! because the wait counts goroutines, not handles.

use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::Ordering::*;
use std::sync::Arc;

use crate::context;
use crate::g::{Task, Wait, WaitReason};
use crate::join::{Packet, RawJoin, ScopeData, ScopedJoinHandle};
use crate::sched::Sched;
use crate::spawn::GoroutineBuilder;
use crate::waiter::{park_current, Waiter};

/// A scope to spawn goroutines that may borrow from outside it; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    sched: Arc<Sched>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Runs `f` with a [`Scope`] whose goroutines may borrow non-`'static` data; waits for
/// all of them before returning.
///
/// If `f` panics, or a goroutine panics and is not joined, `scope` panics after all
/// goroutines have finished.
///
/// ```
/// gort::run(|| {
///     let mut data = vec![1, 2, 3];
///     let total = std::sync::atomic::AtomicI32::new(0);
///     gort::scope(|s| {
///         s.spawn(|| total.fetch_add(data.iter().sum(), std::sync::atomic::Ordering::Relaxed));
///         s.spawn(|| println!("{}", data.len()));
///     });
///     data.push(4);
///     assert_eq!(total.into_inner(), 6);
/// });
/// ```
///
/// # Panics
/// Outside a goroutine.
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let sched = context::current_sched().unwrap_or_else(|| {
        panic!(
            "gort::scope called outside a goroutine: call it inside gort::run or Runtime::block_on"
        )
    });
    let scope = Scope {
        data: Arc::new(ScopeData::new()),
        sched,
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    let data = &scope.data;
    while data.running.load(Acquire) != 0 {
        {
            let mut w = data.waiter.lock();
            if data.running.load(Acquire) == 0 {
                break;
            }
            *w = Some(Waiter::current());
        }
        // The wait site is the `scope` call (this function is `#[track_caller]`).
        park_current(Wait::here(WaitReason::Scope));
    }
    match result {
        Err(e) => resume_unwind(e),
        Ok(_) if data.unjoined_panics.load(Acquire) > 0 => {
            panic!("a scoped goroutine panicked")
        }
        Ok(v) => v,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a goroutine that may borrow anything that outlives the scope.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(GoroutineBuilder::new(), f)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Spawns with a configured builder (name, stack size).
    #[track_caller]
    pub fn spawn_with<F, T>(
        &'scope self,
        builder: GoroutineBuilder,
        f: F,
    ) -> Result<ScopedJoinHandle<'scope, T>, crate::SpawnError>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let packet = Arc::new(Packet::new(f, Some(self.data.clone())));
        let task: Arc<dyn Task + 'scope> = packet.clone();
        // SAFETY: only the lifetime changes. `scope` waits until this goroutine has
        // finished running and dropped its reference to the task (ScopeData::running
        // is decremented after that), so nothing borrowed for 'scope is used after
        // 'scope ends.
        let task: Arc<dyn Task + 'static> = unsafe { std::mem::transmute(task) };
        self.data.running.fetch_add(1, AcqRel);
        match builder.start(&self.sched, task, Location::caller()) {
            Ok(id) => Ok(ScopedJoinHandle {
                raw: RawJoin { packet, id },
                _scope: PhantomData,
            }),
            Err(e) => {
                self.data.running.fetch_sub(1, AcqRel);
                Err(e)
            }
        }
    }
}

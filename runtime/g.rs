//! G: a goroutine (Go's `g`).
//!
//! A G is an `Arc<G>` that moves between run queues, Ms and wait lists. Its fields are
//! split by who may touch them:
//!
//! - `state`: atomic, anyone (see `park.rs`);
//! - `coro`, `task`, `info`: the G's *owner* only. Ownership is the right to run the G:
//!   the spawner before the first enqueue, the M that dequeued it while it runs (the
//!   code on the goroutine's own stack counts as that M), the M that saw it finish.
//!   Queues and the park protocol hand ownership from one thread to the next with
//!   release/acquire pairs, so owner-only fields need no locks.
//!
//! Dead Gs are kept in per-P free lists and reused (Go's `gfput`/`gfget`), so a
//! steady spawn rate allocates no Gs. A G is only reused when nothing else holds it
//! (an outstanding `Goroutine` handle keeps it out of the free list), so a stale unpark
//! can never reach a later goroutine.

use std::cell::{Cell, UnsafeCell};
use std::panic::Location;
use std::sync::Arc;

use corosensei::{Coroutine, Yielder};

use crate::park::GState;
use crate::sched::Sched;
use crate::stack::{GoStack, StackRange};

/// What a goroutine asks of its M when it switches out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// `yield_now`: back to the tail of the run queue.
    Yield,
    /// `park`: wait for an unpark (see `park.rs`).
    Park,
    /// Back from `blocking` with no P to be had: the M queues the goroutine globally
    /// and goes idle (Go's `exitsyscall0`).
    Requeue,
}

pub(crate) type GCoroutine = Coroutine<(), Suspend, (), GoStack>;
pub(crate) type GYielder = Yielder<(), Suspend>;

/// What a parked goroutine waits for: shown by goroutine dumps and deadlock reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum WaitReason {
    /// Not waiting.
    None = 0,
    /// `gort::park`.
    Park,
    /// `JoinHandle::join`.
    Join,
    /// The end of a `gort::scope`.
    Scope,
    /// `gort::time::sleep`.
    Sleep,
    /// Sending on a channel.
    ChanSend,
    /// Receiving from a channel.
    ChanRecv,
    /// `select!` with no ready arm.
    Select,
    /// `sync::Mutex::lock`.
    Mutex,
    /// `sync::RwLock::read`.
    RwLockRead,
    /// `sync::RwLock::write`.
    RwLockWrite,
    /// `sync::Condvar::wait`.
    Condvar,
    /// `sync::WaitGroup::wait`.
    WaitGroup,
    /// `sync::Once` / `OnceLock` being initialised by another goroutine.
    Once,
    /// `sync::Semaphore::acquire`.
    Semaphore,
    /// `sync::Barrier::wait`.
    Barrier,
    /// A socket read or accept waiting for readiness (`gort::net`).
    IoRead,
    /// A socket write or connect waiting for readiness (`gort::net`).
    IoWrite,
}

impl WaitReason {
    const ALL: [WaitReason; 18] = [
        WaitReason::None,
        WaitReason::Park,
        WaitReason::Join,
        WaitReason::Scope,
        WaitReason::Sleep,
        WaitReason::ChanSend,
        WaitReason::ChanRecv,
        WaitReason::Select,
        WaitReason::Mutex,
        WaitReason::RwLockRead,
        WaitReason::RwLockWrite,
        WaitReason::Condvar,
        WaitReason::WaitGroup,
        WaitReason::Once,
        WaitReason::Semaphore,
        WaitReason::Barrier,
        WaitReason::IoRead,
        WaitReason::IoWrite,
    ];

    pub(crate) fn from_u8(v: u8) -> WaitReason {
        Self::ALL
            .get(v as usize)
            .copied()
            .unwrap_or(WaitReason::None)
    }

    /// Go-style text: "chan receive", "sleep", ...
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::None => "running",
            WaitReason::Park => "park",
            WaitReason::Join => "join",
            WaitReason::Scope => "scope",
            WaitReason::Sleep => "sleep",
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanRecv => "chan receive",
            WaitReason::Select => "select",
            WaitReason::Mutex => "sync.Mutex.Lock",
            WaitReason::RwLockRead => "sync.RWMutex.RLock",
            WaitReason::RwLockWrite => "sync.RWMutex.Lock",
            WaitReason::Condvar => "sync.Cond.Wait",
            WaitReason::WaitGroup => "sync.WaitGroup.Wait",
            WaitReason::Once => "sync.Once.Do",
            WaitReason::Semaphore => "semacquire",
            WaitReason::Barrier => "sync.Barrier.Wait",
            WaitReason::IoRead => "IO wait (read)",
            WaitReason::IoWrite => "IO wait (write)",
        }
    }
}

/// The entry of a goroutine: runs its closure once, catching panics and delivering the
/// result (see `join.rs`).
pub(crate) trait Task: Send + Sync {
    /// Runs the closure on the goroutine's stack.
    fn run(self: Arc<Self>);
    /// Completes the goroutine without running it (no stack could be had): `join`
    /// reports `message` as the goroutine's panic.
    fn fail(self: Arc<Self>, message: String);
}

/// Identity of a goroutine: what dumps, traces and the overflow message show.
pub(crate) struct GInfo {
    pub(crate) id: u64,
    pub(crate) name: Option<Box<str>>,
    pub(crate) site: &'static Location<'static>,
    /// Requested stack size (bytes, usable).
    pub(crate) stack_size: usize,
}

pub(crate) type GRef = Arc<G>;

pub(crate) struct G {
    pub(crate) state: GState,
    /// A `WaitReason`, written by the goroutine before it parks (relaxed: for display).
    pub(crate) wait_reason: std::sync::atomic::AtomicU8,
    /// Held while `info` is written (spawn, reuse) and while a dump copies it: a dump
    /// may look at any G, including one being reused on another thread.
    info_lock: std::sync::atomic::AtomicBool,
    /// The runtime this G belongs to (kept across reuse).
    pub(crate) sched: Arc<Sched>,
    info: UnsafeCell<GInfo>,
    task: UnsafeCell<Option<Arc<dyn Task>>>,
    coro: UnsafeCell<Option<GCoroutine>>,
    /// Set by the goroutine itself when it first runs; read by the goroutine only.
    yielder: Cell<*const GYielder>,
    /// The stack of the current coroutine (owner only).
    stack: Cell<Option<StackRange>>,
    /// `gort_asm::ticks()` when this goroutine last became runnable, for the scheduling
    /// latency histogram; 0 when this transition is not sampled (`histogram.rs`).
    pub(crate) ready_at: std::sync::atomic::AtomicU64,
    /// `gort_asm::ticks()` when it last parked (every park: dumps show how long a
    /// goroutine has waited; a sample of them feeds the park-duration histogram).
    pub(crate) parked_at: std::sync::atomic::AtomicU64,
}

// SAFETY: the non-Sync fields (`info`, `task`, `coro`, `yielder`) are only accessed by
// the G's owner (module doc), and ownership moves between threads only through the run
// queues and the park protocol, whose release/acquire pairs order every access. The
// coroutine is `!Send` because values on its stack may be thread-bound; gort's `spawn`
// requires `F: Send` for the closure, and documents that thread-identity values (TLS,
// std lock guards, thread-affine FFI) must not be held across a scheduling point.
unsafe impl Send for G {}
// SAFETY: see above; shared (`&G`) access from non-owners touches only `state` and
// `sched`, which are Sync, and `info` once set, which is immutable until the G is reused.
unsafe impl Sync for G {}

impl G {
    pub(crate) fn new(sched: Arc<Sched>) -> G {
        G {
            state: GState::new(),
            wait_reason: std::sync::atomic::AtomicU8::new(0),
            info_lock: std::sync::atomic::AtomicBool::new(false),
            sched,
            info: UnsafeCell::new(GInfo {
                id: 0,
                name: None,
                site: Location::caller(),
                stack_size: 0,
            }),
            task: UnsafeCell::new(None),
            coro: UnsafeCell::new(None),
            yielder: Cell::new(std::ptr::null()),
            stack: Cell::new(None),
            ready_at: std::sync::atomic::AtomicU64::new(0),
            parked_at: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The goroutine's identity. Immutable between spawn and reuse.
    pub(crate) fn info(&self) -> &GInfo {
        // SAFETY: `info` is written only by the owner of an IDLE G in `init` (before it
        // is published to any other thread), and a G is reused only when no handle can
        // see it (module doc), so no `&GInfo` is alive during that write.
        unsafe { &*self.info.get() }
    }

    /// Prepares a fresh or reused G for a new goroutine.
    ///
    /// # Safety
    /// The caller owns the G, which is IDLE and not visible to any other thread.
    pub(crate) unsafe fn init(&self, info: GInfo, task: Arc<dyn Task>) {
        self.with_info_locked(|| {
            // SAFETY: per the contract only dumps can look at `info` now, and they take
            // the info lock, which we hold.
            unsafe { *self.info.get() = info };
        });
        // SAFETY: per the contract, nobody else can observe `task` now.
        unsafe { *self.task.get() = Some(task) };
    }

    fn with_info_locked<R>(&self, f: impl FnOnce() -> R) -> R {
        use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
        while self
            .info_lock
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            gort_asm::spin_hint();
        }
        let r = f();
        self.info_lock.store(false, Release);
        r
    }

    /// A copy of the identity for a dump: safe from any thread at any time.
    pub(crate) fn info_snapshot(&self) -> (u64, Option<String>, &'static Location<'static>) {
        self.with_info_locked(|| {
            let i = self.info();
            (i.id, i.name.as_deref().map(str::to_owned), i.site)
        })
    }

    /// # Safety
    /// The caller owns the G and no other reference to the coroutine is alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn coro(&self) -> &mut Option<GCoroutine> {
        // SAFETY: per the contract.
        unsafe { &mut *self.coro.get() }
    }

    /// # Safety
    /// The caller owns the G.
    pub(crate) unsafe fn take_task(&self) -> Option<Arc<dyn Task>> {
        // SAFETY: per the contract.
        unsafe { (*self.task.get()).take() }
    }

    pub(crate) fn set_yielder(&self, y: *const GYielder) {
        self.yielder.set(y);
    }

    pub(crate) fn set_stack(&self, r: Option<StackRange>) {
        self.stack.set(r);
    }

    pub(crate) fn stack(&self) -> Option<StackRange> {
        self.stack.get()
    }

    pub(crate) fn yielder(&self) -> *const GYielder {
        self.yielder.get()
    }

    /// Clears per-goroutine state of a dead G before it goes to a free list.
    ///
    /// # Safety
    /// The caller owns the dead G and holds the only other reference besides `allgs`.
    pub(crate) unsafe fn reset(&self) {
        self.with_info_locked(|| {
            // SAFETY: per the contract only dumps can look at `info`, under the lock.
            unsafe { (*self.info.get()).name = None };
        });
        self.yielder.set(std::ptr::null());
    }
}

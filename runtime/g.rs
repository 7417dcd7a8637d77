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
    /// A `checkpoint` honouring a preempt request: as `Yield` (traced apart).
    Preempt,
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

/// Why and where a goroutine waits: the reason and the user's call that parks it (the
/// *wait site*), which dumps show.
///
/// Every blocking public call is `#[track_caller]` and builds one with [`Wait::here`]
/// on its slow path (or passes `Location::caller()` down to where one is built), so the
/// site is the line in the user's code, not a line inside gort.
///
/// It is one word: the `&'static Location` with the reason in its top byte (Linux user
/// space leaves that byte clear on x86-64 and aarch64; elsewhere a site that does not
/// fit is dropped, never misread). Being a single register matters: it travels down
/// every blocking path (`Ctx::wait`, `park_on`, `park_current`) and is stored into the
/// G as is; a two-word version measurably slowed the channel ping-pong.
#[derive(Clone, Copy, Debug)]
pub struct Wait(*const Location<'static>);

/// Where the reason sits in a [`Wait`] word.
const REASON_SHIFT: u32 = usize::BITS - 8;

impl Wait {
    /// No reason, no site.
    pub(crate) const NONE: Wait = Wait(std::ptr::null());

    /// `reason` at the location of the call into the outermost `#[track_caller]`
    /// function of the chain this is called from (the user's call).
    #[track_caller]
    #[inline(always)]
    pub(crate) fn here(reason: WaitReason) -> Wait {
        Wait::at(reason, Location::caller())
    }

    /// `reason` at an explicit site (a location captured before a closure boundary,
    /// which `#[track_caller]` does not cross).
    #[inline(always)]
    pub(crate) fn at(reason: WaitReason, site: &'static Location<'static>) -> Wait {
        let mut p: *const Location<'static> = site;
        // Linux user space ends below 2^56 on x86-64 (even with 5-level paging) and on
        // aarch64 (52-bit at most; a `Location` is untagged static data): no check.
        if cfg!(not(any(target_arch = "x86_64", target_arch = "aarch64")))
            && (p as usize) >> REASON_SHIFT != 0
        {
            p = std::ptr::null(); // cannot carry the tag: keep the reason only
        }
        // Wrapping arithmetic keeps the reference's provenance (the tagged word is
        // never dereferenced; `site` undoes the tag first).
        Wait(p.wrapping_byte_add((reason as usize) << REASON_SHIFT))
    }

    /// The reason.
    #[inline(always)]
    pub(crate) fn reason(self) -> WaitReason {
        WaitReason::from_u8(self.tag())
    }

    /// The wait site (`None` only if it could not be encoded, or for the null word).
    pub(crate) fn site(self) -> Option<&'static Location<'static>> {
        let p = self
            .0
            .wrapping_byte_sub((self.tag() as usize) << REASON_SHIFT);
        // SAFETY: untagged, `p` is null or the `&'static Location<'static>` given to
        // `at` (same provenance), which lives for the whole program.
        unsafe { p.as_ref() }
    }

    #[inline(always)]
    fn tag(self) -> u8 {
        ((self.0 as usize) >> REASON_SHIFT) as u8
    }
}

// SAFETY: a `Wait` is a reference to an immutable `'static Location` (plus a tag);
// sharing or sending it is sharing that reference, which is `Send + Sync`.
unsafe impl Send for Wait {}
// SAFETY: as above.
unsafe impl Sync for Wait {}

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
    /// The [`Wait`] word of the last park (reason and site; null before the first),
    /// written by the goroutine before it parks, next to `wait_reason`. Relaxed: a dump
    /// reads it after seeing WAITING with acquire, which orders it after the write.
    wait: std::sync::atomic::AtomicPtr<Location<'static>>,
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
            wait: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
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

    /// Records why and where the goroutine is about to park (the goroutine itself).
    #[inline]
    pub(crate) fn set_wait(&self, w: Wait) {
        use std::sync::atomic::Ordering::Relaxed;
        self.wait_reason.store(w.tag(), Relaxed);
        self.wait.store(w.0.cast_mut(), Relaxed);
    }

    /// The [`Wait`] of the last park (reason and site together, from one load).
    pub(crate) fn last_wait(&self) -> Wait {
        Wait(self.wait.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Runs `f` on the identity with the info lock held: safe from any thread at any
    /// time, without copying the name. `f` must be short (spawns of a reused G wait).
    pub(crate) fn with_identity<R>(&self, f: impl FnOnce(&GInfo) -> R) -> R {
        self.with_info_locked(|| f(self.info()))
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

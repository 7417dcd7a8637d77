//! Creating goroutines (Go's `newproc`) and the calls a goroutine makes about itself:
//! [`spawn`], [`GoroutineBuilder`], [`yield_now`], [`park`], [`current`].

use std::fmt;
use std::panic::Location;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use crate::config::{page_size, MAX_STACK_SIZE};
use crate::context;
use crate::g::{GInfo, GRef, Task};
use crate::join::{JoinHandle, Packet, RawJoin};
use crate::sched::Sched;
use crate::waiter;

/// Why a goroutine could not be spawned. [`spawn`] panics with its `Display` text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// Called outside any gort runtime.
    NoRuntime,
    /// The runtime is shutting down.
    ShutDown,
    /// An invalid per-goroutine stack size.
    InvalidStackSize(usize),
    /// `limit` goroutines are alive, the cap set with
    /// [`Builder::max_goroutines`](crate::Builder::max_goroutines) or
    /// `GORT_MAX_GOROUTINES`. A goroutine stops counting as soon as its result is
    /// delivered, so a spawn after a [`join`](JoinHandle::join) finds its room.
    TooManyGoroutines {
        /// The cap.
        limit: usize,
    },
    /// No stack could be had for the goroutine: its stack pool has none free and the OS
    /// refused to map more (the address-space limit `RLIMIT_AS`, out of memory or of
    /// mappings). The text names the OS error, the stack size and the knobs that help.
    /// The check is a forecast made at spawn time: a goroutine that was queued before
    /// the memory ran out and finds no stack when it first runs ends with this text as
    /// its panic, which its [`join`](JoinHandle::join) returns.
    NoStack(String),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::NoRuntime => f.write_str(
                "gort::spawn called outside a gort runtime: spawn from a goroutine (inside \
                 gort::run(..) or Runtime::block_on(..)), or use Runtime::spawn from a plain thread",
            ),
            SpawnError::ShutDown => f.write_str("gort: the runtime is shutting down"),
            SpawnError::InvalidStackSize(n) => write!(
                f,
                "gort: invalid goroutine stack size {n}: must be between one page and {MAX_STACK_SIZE} bytes"
            ),
            SpawnError::TooManyGoroutines { limit } => write!(
                f,
                "gort: cannot spawn a goroutine: {limit} goroutines are alive, the cap set by \
                 Builder::max_goroutines / GORT_MAX_GOROUTINES; join some first or raise the cap"
            ),
            SpawnError::NoStack(why) => write!(f, "gort: cannot spawn a goroutine: {why}"),
        }
    }
}

impl std::error::Error for SpawnError {}

/// Spawns a goroutine on the current runtime and returns a handle to join it.
///
/// The goroutine goes to the current P's `runnext` slot, so it runs soon and on a warm
/// cache, and an idle M is woken to take over other work if there is one.
///
/// # Panics
/// Outside a goroutine, with a message that says what to do instead (see
/// [`try_spawn`] and [`Runtime::spawn`](crate::Runtime::spawn)); when the runtime's cap
/// on live goroutines is reached or no stack can be had, with a message naming the limit
/// and the knob ([`SpawnError`]).
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match GoroutineBuilder::new().spawn_here(f) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`spawn`], but returns an error instead of panicking: outside a runtime, during
/// shutdown, at the cap on live goroutines ([`SpawnError::TooManyGoroutines`]) or when no
/// stack can be had ([`SpawnError::NoStack`]).
#[track_caller]
pub fn try_spawn<F, T>(f: F) -> Result<JoinHandle<T>, SpawnError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    GoroutineBuilder::new().spawn(f)
}

/// Configures a goroutine before spawning it (like `std::thread::Builder`).
///
/// ```
/// gort::run(|| {
///     let h = gort::GoroutineBuilder::new()
///         .name("worker")
///         .stack_size(64 * 1024)
///         .spawn(|| gort::current().name().map(str::to_owned))
///         .unwrap();
///     assert_eq!(h.join().unwrap().as_deref(), Some("worker"));
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct GoroutineBuilder {
    name: Option<String>,
    stack_size: Option<usize>,
    /// `block_on`'s main goroutine: its spawn from a plain thread is not a sign that
    /// plain threads drive this runtime (see `dump.rs`).
    is_main: bool,
}

impl GoroutineBuilder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the goroutine (shown by `current().name()`, dumps and overflow messages).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Stack size in bytes, rounded up to whole pages. Stacks of the runtime's default
    /// size are pooled per P; other sizes come from a shared pool.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    pub(crate) fn main() -> Self {
        GoroutineBuilder {
            name: Some("main".into()),
            stack_size: None,
            is_main: true,
        }
    }

    /// Spawns on the current runtime.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_here(f).map_err(|e| *e)
    }

    // Inside, errors travel boxed: a `SpawnError` (with its `String`) would make every
    // result a larger value passed through memory, while `Result<u64, Box<_>>` comes back
    // in two registers. `gort::spawn`, the hot path, never unboxes one.

    #[track_caller]
    fn spawn_here<F, T>(self, f: F) -> Result<JoinHandle<T>, Box<SpawnError>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match context::current_sched() {
            Some(sched) => self.spawn_on_boxed(&sched, f),
            None => Err(Box::new(SpawnError::NoRuntime)),
        }
    }

    #[track_caller]
    pub(crate) fn spawn_on<F, T>(
        self,
        sched: &Arc<Sched>,
        f: F,
    ) -> Result<JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_on_boxed(sched, f).map_err(|e| *e)
    }

    #[track_caller]
    fn spawn_on_boxed<F, T>(
        self,
        sched: &Arc<Sched>,
        f: F,
    ) -> Result<JoinHandle<T>, Box<SpawnError>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let packet = Arc::new(Packet::new(f, None));
        let id = self.start_boxed(sched, packet.clone(), Location::caller())?;
        Ok(JoinHandle {
            raw: RawJoin { packet, id },
        })
    }

    /// Validates, allocates a G and makes it runnable. Returns the goroutine id.
    pub(crate) fn start(
        self,
        sched: &Arc<Sched>,
        task: Arc<dyn Task>,
        site: &'static Location<'static>,
    ) -> Result<u64, SpawnError> {
        self.start_boxed(sched, task, site).map_err(|e| *e)
    }

    fn start_boxed(
        self,
        sched: &Arc<Sched>,
        task: Arc<dyn Task>,
        site: &'static Location<'static>,
    ) -> Result<u64, Box<SpawnError>> {
        let stack_size = match self.stack_size {
            None => sched.stacks.default_size(),
            Some(n) if n < page_size() || n > MAX_STACK_SIZE => {
                return Err(Box::new(SpawnError::InvalidStackSize(n)))
            }
            Some(n) => n.next_multiple_of(page_size()),
        };
        if sched.shutdown.load(SeqCst) {
            return Err(Box::new(SpawnError::ShutDown));
        }
        let ctx = context::current();
        // The current M's P, if this thread is an M of the same runtime.
        let mine = if ctx.is_null() {
            None
        } else {
            // SAFETY: a non-null current() is this M's live context.
            let ctx = unsafe { &*ctx };
            match ctx.p.get() {
                Some(pid) if Arc::ptr_eq(&ctx.sched, sched) => Some((ctx, pid)),
                _ => None,
            }
        };
        let p = mine.map(|(_, pid)| &sched.ps[pid]);
        // The usual spawn (no cap, default stack size, a stack cached on this P) passes
        // the cap and stack checks with these three tests.
        // SAFETY: `p`, when Some, is held by this thread's M; the borrow ends here.
        let cached = p.is_some_and(|p| !unsafe { p.local() }.stacks.is_empty());
        if !cached || self.stack_size.is_some() || sched.config.max_goroutines != usize::MAX {
            // SAFETY: as above.
            unsafe { admit(sched, p, stack_size, self.is_main) }.map_err(Box::new)?;
        }
        // SAFETY: `p`, when Some, is held by this thread's M.
        let (g, id) = unsafe { (sched.gfget(p), sched.next_goid(p)) };
        let is_main = self.is_main;
        let info = GInfo {
            id,
            name: self.name.map(String::into_boxed_str),
            site,
            stack_size,
        };
        // SAFETY: `gfget` returned an IDLE G that only we can see.
        unsafe { g.init(info, task) };
        sched.start_goroutine(g, mine, is_main);
        Ok(id)
    }
}

/// Set once any runtime in the process caps its goroutines: until then, a finishing
/// goroutine pays one load for the cap (`goroutine_done`).
static ANY_CAPPED: AtomicBool = AtomicBool::new(false);

/// The checks a new goroutine must pass beyond the usual case: the runtime's cap on live
/// goroutines, and whether a stack can be had (`StackPool::check_available`).
///
/// The cap is counted exactly, unlike summing the per-P spawn and exit counters: those
/// miss concurrent spawns on other Ps, and count a goroutine until its M recycles it, a
/// moment after `join` has returned its result. Its cost (a shared counter) is paid only
/// under a cap. `block_on`'s main goroutine counts but is never refused: the cap is on
/// the goroutines a program spawns, and `block_on` must be able to start.
///
/// # Safety
/// `p`, when Some, is held by this thread's M.
#[cold]
unsafe fn admit(
    sched: &Sched,
    p: Option<&crate::p::P>,
    stack_size: usize,
    is_main: bool,
) -> Result<(), SpawnError> {
    let limit = sched.config.max_goroutines;
    let live = &sched.stacks.live;
    if limit != usize::MAX {
        if !ANY_CAPPED.load(Relaxed) {
            // Published to the goroutine with it (the run queue handoff orders it
            // before the goroutine's `goroutine_done`).
            ANY_CAPPED.store(true, Relaxed);
        }
        if is_main {
            live.fetch_add(1, Relaxed);
        } else if live
            .fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1))
            .is_err()
        {
            return Err(SpawnError::TooManyGoroutines { limit });
        }
    }
    // SAFETY: `p`, when Some, is held by this thread's M (the contract).
    let cache = p.map(|p| &unsafe { p.local() }.stacks[..]);
    if let Err(e) = sched.stacks.check_available(stack_size, cache) {
        if limit != usize::MAX {
            live.fetch_sub(1, Relaxed);
        }
        return Err(SpawnError::NoStack(e.0));
    }
    Ok(())
}

/// A goroutine is delivering its result (`join.rs`): under a cap, it stops counting now,
/// before a joiner can see it finished. Runs on an M of the goroutine's runtime (on the
/// goroutine, or on the M when its first run failed for want of a stack).
#[inline]
pub(crate) fn goroutine_done() {
    if ANY_CAPPED.load(Relaxed) {
        uncount_current();
    }
}

#[cold]
fn uncount_current() {
    let ctx = context::current();
    if ctx.is_null() {
        return;
    }
    // SAFETY: a non-null current() is this M's live context.
    let sched = unsafe { &(*ctx).sched };
    if sched.config.max_goroutines != usize::MAX {
        sched.stacks.live.fetch_sub(1, Relaxed);
    }
}

/// Lets other goroutines run: the caller goes to the tail of its P's run queue. On a
/// plain thread it yields the thread to the OS.
pub fn yield_now() {
    if !waiter::yield_current() {
        std::thread::yield_now();
    }
}

/// Parks the calling goroutine until [`Goroutine::unpark`] is called for it (on a plain
/// thread: `std::thread::park`). Like `std::thread::park`, it may return spuriously and
/// an unpark that comes first makes the next park return at once, so wait in a loop on
/// the condition you care about.
#[track_caller]
pub fn park() {
    waiter::park_current(crate::g::Wait::here(crate::g::WaitReason::Park));
}

/// A handle to a goroutine: its id and name, and a way to unpark it.
#[derive(Clone)]
pub struct Goroutine {
    g: GRef,
}

impl Goroutine {
    /// The goroutine id (unique within its runtime; the main goroutine of `run` is
    /// spawned first).
    pub fn id(&self) -> u64 {
        self.g.info().id
    }

    /// The name given with [`GoroutineBuilder::name`].
    pub fn name(&self) -> Option<&str> {
        self.g.info().name.as_deref()
    }

    /// Where the goroutine was spawned.
    pub fn spawn_site(&self) -> &'static Location<'static> {
        self.g.info().site
    }

    /// Wakes the goroutine if it is parked in [`park`], or makes its next park return at
    /// once. Works from any thread.
    pub fn unpark(&self) {
        if context::current_g().is_null() && !context::in_teardown() {
            // A plain thread that wakes goroutines may do so again later (see `dump.rs`).
            self.g
                .sched
                .external_wakes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        waiter::unpark(&self.g);
    }
}

impl fmt::Debug for Goroutine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Goroutine")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

/// The goroutine that calls it, or `None` on a plain thread.
pub fn try_current() -> Option<Goroutine> {
    waiter::current_gref().map(|g| Goroutine { g })
}

/// The goroutine that calls it.
///
/// # Panics
/// On a plain thread (use [`try_current`] there).
pub fn current() -> Goroutine {
    try_current().expect("gort::current() called outside a goroutine; use gort::try_current()")
}

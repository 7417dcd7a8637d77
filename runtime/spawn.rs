//! Creating goroutines (Go's `newproc`) and the calls a goroutine makes about itself:
//! [`spawn`], [`GoroutineBuilder`], [`yield_now`], [`park`], [`current`].

use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use crate::config::{page_size, MAX_STACK_SIZE};
use crate::context;
use crate::g::{GInfo, GRef, Task};
use crate::join::{JoinHandle, Packet, RawJoin};
use crate::sched::Sched;
use crate::waiter;

/// Why a goroutine could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// Called outside any gort runtime.
    NoRuntime,
    /// The runtime is shutting down.
    ShutDown,
    /// An invalid per-goroutine stack size.
    InvalidStackSize(usize),
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
/// [`try_spawn`] and [`Runtime::spawn`](crate::Runtime::spawn)).
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match try_spawn(f) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`spawn`], but returns an error instead of panicking.
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
        let sched = context::current_sched().ok_or(SpawnError::NoRuntime)?;
        self.spawn_on(&sched, f)
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
        let packet = Arc::new(Packet::new(f, None));
        let id = self.start(sched, packet.clone(), Location::caller())?;
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
        let stack_size = match self.stack_size {
            None => sched.stacks.default_size(),
            Some(n) if n < page_size() || n > MAX_STACK_SIZE => {
                return Err(SpawnError::InvalidStackSize(n))
            }
            Some(n) => n.next_multiple_of(page_size()),
        };
        if sched.shutdown.load(SeqCst) {
            return Err(SpawnError::ShutDown);
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

//! Goroutine-aware synchronisation: every blocking call parks the goroutine, never the
//! OS thread (on a plain thread it blocks the thread).
//!
//! | type | Go | blocking calls (each also with a timeout) |
//! |---|---|---|
//! | [`Mutex`] | `sync.Mutex` (same algorithm, with starvation mode) | `lock` / `try_lock_for` |
//! | [`RwLock`] | `sync.RWMutex` (writer preference) | `read`, `write` / `try_read_for`, `try_write_for` |
//! | [`Condvar`] | `sync.Cond` | `wait`, `wait_while` / `wait_timeout`, `wait_timeout_while` |
//! | [`WaitGroup`] | `sync.WaitGroup` | `wait` / `wait_timeout` |
//! | [`Once`], [`OnceLock`] | `sync.Once`, `sync.OnceValue` | `call_once`, `get_or_init` (no timeout: the caller could not proceed without the value) |
//! | [`Semaphore`] | `x/sync/semaphore` (weight 1) | `acquire` / `acquire_timeout` |
//! | [`Barrier`] | — (std's) | `wait` / `wait_timeout` |
//!
//! # Goroutines and threads together
//!
//! The same value works from goroutines and plain OS threads at once: a waiting goroutine
//! is parked and its M runs other goroutines; a waiting thread is blocked with
//! `std::thread::park`. So work can be handed between goroutines and ordinary threads
//! through these types. Guards may be held across scheduling points (a goroutine may
//! resume on another OS thread with the guard) and may be dropped on any thread.
//!
//! # No poisoning
//!
//! Like Go (which has no poisoning) and `parking_lot`, these types do not poison. A panic
//! that unwinds through a guard releases the lock (the guard's destructor runs), and the
//! next owner sees the data as the panicking code left it; a panicking `Once` initialiser
//! leaves the `Once` incomplete for another caller to retry. Code that must keep an
//! invariant across a panic restores it with its own drop guard. The reason: poisoning
//! makes every `lock()` return a `Result` that is almost always unwrapped, and a
//! goroutine's panic is already reported by its `JoinHandle`.
//!
//! # How waiting works
//!
//! Each type keeps its fast path on one atomic word and its waiters in a FIFO of nodes
//! that live on the waiters' stacks ([`waitq`]), under a short lock that nobody parks
//! while holding. A waker pops a node under that lock and wakes it after unlocking; the
//! woken goroutine goes to the waker's `runnext`. Each module documents its state word and
//! why no wakeup can be lost.
//!
//! Every wait is unwind-safe: a goroutine that is dropped while parked (runtime teardown
//! force-unwinds its stack) removes its node, and gives back whatever was handed to it in
//! the meantime, so the primitive stays usable from plain threads after the runtime is
//! gone. A blocking call made *during* teardown (by a destructor of a goroutine being
//! dropped) that cannot complete at once panics ("would block forever") instead of
//! hanging; timeout variants return as timed out. (If that destructor already runs
//! because of an unwind, the panic aborts the process.)
//!
//! [`waitq`]: self#how-waiting-works

mod barrier;
mod condvar;
mod mutex;
mod once;
mod plain_hold;
mod rwlock;
mod sema;
mod semaphore;
mod waitgroup;
mod waitq;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use waitgroup::WaitGroup;

pub(crate) use plain_hold::plain_threads_hold_locks;

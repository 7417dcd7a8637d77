//! gort: a Go-style M:N green-thread runtime.
//!
//! You write plain blocking-style Rust in *goroutines*, stackful coroutines that are cheap
//! to create (a parked goroutine costs about one page of memory), and gort runs them on a
//! few OS threads with Go's scheduler:
//!
//! ```
//! let sum = gort::run(|| {
//!     let hs: Vec<_> = (0..1000u64).map(|i| gort::spawn(move || i * 2)).collect();
//!     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(sum, 999_000);
//! ```
//!
//! # The model: G, P, M
//!
//! - A **G** (goroutine) is a closure with its own stack. It runs until it reaches a
//!   *scheduling point* ([`yield_now`], [`park`], [`JoinHandle::join`], the
//!   [`chan`], [`sync`] and [`time`] calls), where it switches back to the scheduler.
//! - A **P** (processor) is the right to run goroutines; there are `procs` of them
//!   (default: the CPUs this process may use, or `GORT_PROCS`). Each P has a 256-slot
//!   local run queue and a `runnext` slot for the goroutine it readied last.
//! - An **M** (machine) is an OS thread. It holds a P and runs its goroutines; an M
//!   without work steals half of another P's queue, and sleeps when there is none.
//!
//! `spawn` puts the new goroutine in the current P's `runnext`, so a spawn-then-join
//! runs the child next on the same warm cache, while idle Ms are woken to steal the rest.
//!
//! # Safety rules for goroutine code
//!
//! A goroutine moves between OS threads at scheduling points. Safe Rust keeps you from
//! sending non-`Send` values to *other* goroutines, but a value tied to the identity of
//! an OS thread must not be held *across* a scheduling point of your own goroutine:
//!
//! - `thread_local!` values: you may resume on another thread and see its copy;
//! - `std::sync::MutexGuard` (and other std lock guards) held across a park: the guard
//!   would be released from another thread, and other goroutines on this thread may
//!   block the M on the same lock; use [`sync`]'s types instead;
//! - thread-affine FFI handles.
//!
//! Scheduling is cooperative: a goroutine that loops without a scheduling point keeps
//! its P. A sysmon thread asks a goroutine that has run 10 ms to yield at its next
//! scheduling point (call [`checkpoint`] in long loops), and reports one that does not
//! reach one. Code that blocks its OS thread (files, C calls, name lookups) belongs in
//! [`blocking`], which hands the P to another thread when the call lasts; [`fs`] wraps
//! `std::fs` that way. Calling gort APIs outside a runtime gives a clear error
//! ([`SpawnError`]) or a documented fallback ([`yield_now`] and [`park`] act on the OS
//! thread).
//!
//! # Networking
//!
//! [`net`] has `std::net`'s types (`TcpListener`, `TcpStream`, `UdpSocket`, Unix sockets)
//! whose calls park the goroutine on `EAGAIN` and resume it when an epoll netpoller
//! reports the socket ready, as Go's `net` package does: a goroutine per connection, plain
//! `read`/`write`, and `Read`/`Write` for any synchronous library.
//!
//! # Environment variables
//!
//! Read when a runtime is built (an explicit [`Builder`] setting wins); a value that
//! cannot be parsed makes [`Builder::build`] fail with [`ConfigError::Env`] naming it.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `GORT_PROCS` | number of Ps, like `GOMAXPROCS` (≥ 1) | usable CPUs |
//! | `GORT_HOGWARN` | `0` silences hog reports on stderr, `1` enables them | `1` |
//! | `GORT_MAX_THREADS` | cap on OS threads per runtime (> procs) | 10,000 |
//! | `GORT_SCHEDTRACE` | print Go's `SCHED` line to stderr every this many ms (≥ 1) | off |
//! | `GORT_SCHEDDETAIL` | `1`: each trace adds a line per P, M and goroutine | `0` |
//! | `GORT_SIGQUIT` | `dump`: SIGQUIT prints a goroutine dump, the process goes on | `default` |
//! | `GORT_MAX_GOROUTINES` | cap on live goroutines; [`try_spawn`] fails beyond it | no cap |
//! | `GORT_CHAOS` | chaos scheduling with this seed ([`Builder::chaos`]) | off |
//! | `GORT_STACK_POLICY` | `auto`, `guard-install`, `mprotect` or `canary` ([`StackPolicy`]) | `auto` |
//! | `GORT_TRACE` | record an execution trace of the runtime's whole life into this file | off |
//! | `GORT_POLICY` | scheduling [`policy`] by name (`go`, `tokio`, `steal-one`, ...) | `go` |
//! | `GORT_SIM_SEED` | [`sim::check`] runs only this seed (replaying a failure) | all seeds |
//!
//! # Stacks
//!
//! Stacks are fixed-size (default 256 KiB of address space, [`Builder::stack_size`],
//! [`GoroutineBuilder::stack_size`]), allocated when a goroutine first runs, returned
//! when it finishes, pooled per P. Only touched pages use memory. An overflow ends the
//! process with `fatal error: stack overflow in goroutine N "name" (spawned at
//! file:line)`; see [`StackPolicy`] for how guard pages are made.
//!
//! # Coordinating goroutines
//!
//! ```
//! use std::time::Duration;
//! gort::run(|| {
//!     let (tx, rx) = gort::chan::bounded::<u32>(0); // unbuffered, as in Go
//!     let wg = gort::sync::WaitGroup::new();
//!     wg.add(1);
//!     let done = wg.clone();
//!     gort::spawn(move || {
//!         tx.send(42).unwrap();
//!         done.done();
//!     });
//!     gort::select! {
//!         recv(rx) -> v => assert_eq!(v, Ok(42)),
//!         default(Duration::from_secs(5)) => panic!("timed out"),
//!     }
//!     wg.wait();
//!     gort::time::sleep(Duration::from_millis(1));
//! });
//! ```
//!
//! Every blocking call parks the goroutine, never the OS thread, and the same types work
//! from plain threads (they block the thread there).
//!
//! # Observability
//!
//! [`metrics()`] (and [`Runtime::metrics`]) gives per-P counters (spawns, context
//! switches, steals, global-queue pulls, overflows, parks, spins, syscall handoffs,
//! netpoll wakes) and three sampled latency [`Histogram`]s: scheduling latency
//! (runnable → running, gort's event-loop lag), run length between scheduling points,
//! and park duration; [`Metrics::to_prometheus`] renders the lot for a `/metrics`
//! endpoint. `GORT_SCHEDTRACE=<ms>` prints Go's `SCHED` summary line periodically.
//! `GORT_TRACE=<file>` (or [`Builder::trace`], or [`trace::start`] / [`trace::stop`])
//! records an execution trace: every scheduling decision, read back with
//! [`trace::Trace::read`] or turned into Chrome trace JSON by the `gort-trace` tool.
//! [`dump()`] (and
//! [`Runtime::dump`]) lists every goroutine Go-style: its status or wait reason with how
//! long it has waited, its *wait site* (the line of your code whose blocking call parked
//! it: every blocking gort call is `#[track_caller]`), its spawn site and name.
//! Identical goroutines (same reason, wait site, spawn site and name) are one entry with
//! their count, so a million goroutines stuck on one line read as one entry, and a dump
//! of a million takes about 0.2 s:
//!
//! ```text
//! 1000000 goroutines "worker" [chan receive, 1.2 s to 3.4 s]:
//!     chan receive at src/main.rs:42:13
//!     spawned at src/main.rs:10:5
//!     ids 2, 3, 4, 5, 6, 7, 8, 9 and 999992 more
//! ```
//!
//! With [`Builder::sigquit_dump`] (or `GORT_SIGQUIT=dump`), SIGQUIT (`Ctrl-\`) prints
//! the dump of every such runtime to stderr and the process goes on: this replaces the
//! signal's default action (a core dump) while such a runtime lives. When every
//! goroutine is parked and nothing can wake one, `run` panics with "all goroutines are
//! asleep - deadlock!" and the dump ([`Runtime::try_block_on`] returns it as an error
//! instead).
//!
//! # Research: policies and simulation
//!
//! Every scheduling decision is a method of the [`policy::Policy`] trait; gort's
//! built-in policies ([`policy::BuiltIn`]: Go's, tokio's, and alternatives) and your own
//! are chosen with [`Builder::policy`] or `GORT_POLICY`. [`sim`] runs a program in
//! deterministic simulation: virtual Ps stepped in an order drawn from a seed, on
//! virtual time, one schedule per seed.
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

mod blocking;
pub mod chan;
mod chaos;
mod config;
mod context;
mod dump;
pub mod fs;
mod g;
mod histogram;
mod join;
mod loom;
mod m;
mod metrics;
pub mod net;
mod netpoll;
mod overflow;
mod p;
mod park;
pub mod policy;
mod preempt;
mod prometheus;
mod runq;
mod runtime;
mod sched;
mod schedtrace;
mod schedule;
mod scope;
mod sigquit;
pub mod sim;
mod spawn;
mod stack;
mod steal;
pub mod sync;
mod sysmon;
pub mod time;
mod timer;
pub mod trace;
mod waiter;

pub use blocking::blocking;
pub use config::{
    Builder, Config, ConfigError, SpinningLimit, VictimOrder, DEFAULT_MAX_THREADS,
    DEFAULT_STACK_SIZE, MAX_PROCS, MAX_STACK_SIZE,
};
pub use dump::{dump, RunError};
pub use g::WaitReason;
pub use histogram::Histogram;
pub use join::{JoinHandle, ScopedJoinHandle};
pub use metrics::{metrics, Metrics, ProcMetrics};
pub use preempt::checkpoint;
pub use runtime::{run, Runtime};
pub use scope::{scope, Scope};
pub use spawn::{
    current, park, spawn, try_current, try_spawn, yield_now, Goroutine, GoroutineBuilder,
    SpawnError,
};
pub use stack::{StackGuard, StackPolicy};

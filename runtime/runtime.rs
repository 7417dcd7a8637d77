//! [`Runtime`]: one scheduler with its Ps, Ms and stacks; [`run`], the one-call entry.
//!
//! Threads start on demand: a runtime that has run nothing has no threads. Dropping a
//! runtime shuts it down: every M finishes the goroutine it is running up to its next
//! scheduling point and exits, then goroutines still parked or queued are dropped (their
//! stacks unwound, so their destructors run; gort calls made from those destructors
//! return at once: `park` does not sleep, `join` of an unfinished goroutine is `Err`).
//! Under `panic = "abort"` nothing can unwind, so parked goroutines are leaked instead.

use std::panic::{resume_unwind, Location};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use crate::config::{Builder, Config, ConfigError};
use crate::context;
use crate::dump::RunError;
use crate::g::GRef;
use crate::join::JoinHandle;
use crate::metrics::Metrics;
use crate::overflow;
use crate::sched::Sched;
use crate::spawn::{GoroutineBuilder, SpawnError};
use crate::stack::StackPool;

/// A gort runtime. See the crate docs for the model.
pub struct Runtime {
    sched: Arc<Sched>,
}

impl Runtime {
    /// A builder with Go's defaults.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runtime with the default configuration (`GORT_*` variables apply).
    pub fn new() -> Result<Runtime, ConfigError> {
        Builder::new().build()
    }

    pub(crate) fn from_config(config: Config) -> Result<Runtime, ConfigError> {
        let stacks =
            StackPool::new(config.stack_policy, config.stack_size).map_err(ConfigError::Os)?;
        gort_asm::calibrate();
        overflow::install_handler();
        let sched = Arc::new(Sched::new(config, stacks));
        if let Some(seed) = sched.config.chaos {
            crate::chaos::announce(seed);
        }
        if let Some(path) = &sched.config.trace {
            crate::trace::start_on(&sched, path).map_err(|e| ConfigError::Os(e.to_string()))?;
        }
        if sched.config.sigquit_dump {
            crate::sigquit::register(&sched)
                .map_err(|e| ConfigError::Os(format!("cannot set up SIGQUIT dumps: {e}")))?;
        }
        Ok(Runtime { sched })
    }

    pub(crate) fn sched(&self) -> &Arc<Sched> {
        &self.sched
    }

    /// The settings this runtime runs with.
    pub fn config(&self) -> &Config {
        &self.sched.config
    }

    /// A snapshot of the scheduler counters.
    pub fn metrics(&self) -> Metrics {
        self.sched.metrics()
    }

    /// Runs `f` as a goroutine and blocks the calling thread until it returns; a panic
    /// in `f` propagates to the caller. Called from a goroutine, it parks only that
    /// goroutine.
    ///
    /// # Panics
    /// With the report, if every goroutine falls asleep with nothing to wake them (see
    /// [`try_block_on`](Self::try_block_on) for a `Result` instead).
    #[track_caller]
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.try_block_on(f) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`block_on`](Self::block_on), but a deadlock ("all goroutines are asleep")
    /// comes back as [`RunError::Deadlock`] with a dump of every goroutine. Goroutines
    /// left parked stay in the runtime until it is dropped.
    #[track_caller]
    pub fn try_block_on<F, T>(&self, f: F) -> Result<T, RunError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let on_thread = context::current().is_null();
        if let Some(seed) = self.sched.config.simulate {
            assert!(
                on_thread,
                "gort::sim: a simulated runtime is driven from a plain thread, not a goroutine"
            );
            let spawn = || {
                GoroutineBuilder::main()
                    .spawn_on(&self.sched, f)
                    .unwrap_or_else(|e| panic!("{e}"))
            };
            let (out, h) = crate::sim::drive(&self.sched, seed, spawn, |h| h.is_finished());
            self.sched.sim_hash.store(out.hash, SeqCst);
            self.sched.sim_steps.store(out.steps, SeqCst);
            if let Some(report) = out.deadlock {
                return Err(RunError::Deadlock(report));
            }
            return match h.join() {
                Ok(v) => Ok(v),
                Err(payload) => resume_unwind(payload),
            };
        }
        if on_thread {
            self.sched.blockers.lock().push(std::thread::current());
        }
        let h = GoroutineBuilder::main()
            .spawn_on(&self.sched, f)
            .unwrap_or_else(|e| panic!("{e}"));
        let result = h.raw.join_unless(|| self.sched.deadlock.lock().clone());
        if on_thread {
            let me = std::thread::current().id();
            self.sched.blockers.lock().retain(|t| t.id() != me);
        }
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(payload)) => resume_unwind(payload),
            Err(report) => Err(RunError::Deadlock(report)),
        }
    }

    /// Lists every live goroutine (see [`gort::dump`](crate::dump)).
    pub fn dump(&self) -> String {
        self.sched.dump()
    }

    /// Spawns a goroutine on this runtime from any thread.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_spawn(GoroutineBuilder::new(), f)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Spawns a configured goroutine on this runtime from any thread.
    #[track_caller]
    pub fn try_spawn<F, T>(
        &self,
        builder: GoroutineBuilder,
        f: F,
    ) -> Result<JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _ = Location::caller();
        builder.spawn_on(&self.sched, f)
    }

    fn shutdown(&mut self) {
        let s = &self.sched;
        if let Some(cur) = context::current_sched() {
            assert!(
                !Arc::ptr_eq(&cur, s),
                "a gort Runtime cannot be dropped from one of its own goroutines"
            );
        }
        {
            let l = s.lock.lock();
            s.shutdown.store(true, SeqCst);
            for m in &l.idle_ms {
                m.stop();
            }
        }
        s.wake_poller();
        s.sysmon_wake.stop();
        s.join_threads();
        if crate::trace::on(s) {
            // Every M has exited: the trace holds the whole run.
            if let Err(e) = crate::trace::stop_on(s) {
                eprintln!("{e}");
            }
        }
        // Every M has exited: this thread now owns every P and every G.
        context::set_teardown(true);
        for p in s.ps.iter() {
            p.timers.clear();
        }
        let gs: Vec<GRef> = s.allgs.lock().clone();
        for g in &gs {
            g.state.kill();
            // SAFETY: no M runs (joined above), so no other thread touches any G.
            let coro = unsafe { g.coro() }.take();
            // SAFETY: as above.
            let task = unsafe { g.take_task() };
            if cfg!(panic = "abort") {
                // Unwinding is impossible: leak what the goroutine's stack holds rather
                // than abort the process (the stack memory goes with the pool).
                std::mem::forget(coro);
            } else {
                // Dropping a suspended coroutine unwinds its stack (destructors run here).
                drop(coro);
            }
            drop(task);
        }
        // Destructors may have woken goroutines: drain queues after the drops.
        let mut leftovers = s.drain_queues();
        leftovers.append(&mut s.drain_poller());
        for p in s.ps.iter() {
            // SAFETY: as above, no M holds any P.
            while let Some((g, _)) = unsafe { p.runq.pop(true) } {
                leftovers.push(g);
            }
            // SAFETY: as above.
            let local = unsafe { p.local() };
            leftovers.append(&mut local.gfree);
            s.stacks.put_all(&mut local.stacks);
        }
        drop(leftovers);
        s.allgs.lock().clear();
        context::set_teardown(false);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.sched.config)
            .finish()
    }
}

/// Runs `f` as the main goroutine of a new default runtime and returns its result; the
/// runtime shuts down when `f` returns. A panic in `f` propagates out of `run`.
///
/// # Panics
/// If the default configuration is invalid (a bad `GORT_PROCS`), with the reason; and
/// with the "all goroutines are asleep - deadlock!" report and goroutine dump when every
/// goroutine parks with nothing left to wake one (use [`Runtime::try_block_on`] for a
/// `Result`).
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let rt = Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(f)
}

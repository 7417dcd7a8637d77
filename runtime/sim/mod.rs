//! Deterministic simulation: the runtime's own scheduler code drives `procs` virtual Ps
//! from one OS thread, on virtual time.
//!
//! At each step a generator seeded by the run's seed picks a P; that P looks for work
//! exactly as an M would (`find_runnable`'s timers, fairness tick, `runnext`, ring,
//! global queue, stealing, under the configured [policy](crate::policy)) and runs one
//! goroutine until its next scheduling point. When no P has work, the clock jumps to the
//! earliest timer, so `sleep(1h)` returns at once; when there is no timer either, every
//! goroutine is asleep and the run reports a deadlock with a dump.
//!
//! One seed gives one schedule: the same decisions in the same order, summed up by
//! [`Run::schedule_hash`], and the same `select!` choices (their generator is seeded
//! too). Another seed gives another interleaving (with two Ps or more: with one, the seed
//! only changes `select!` choices, since a single P's order is fixed), which makes the
//! simulator a goroutine-level complement to loom: run a concurrent scenario under
//! many seeds with [`check`], and a failing seed comes with the command that replays it.
//!
//! What works: goroutines, [`chan`](crate::chan) and `select!`, [`sync`](crate::sync),
//! [`time`](crate::time) (read the clock with [`time::now`](crate::time::now), not
//! `Instant::now()`), [`blocking`](crate::blocking) (the call runs inline), spawning,
//! joining, panics. What does not: [`net`](crate::net) returns an
//! [`Unsupported`](std::io::ErrorKind::Unsupported) error, because real sockets would
//! make the schedule depend on the outside world; plain threads that wake goroutines
//! break determinism; a run is cooperative (no quantum, no sysmon preemption, and a
//! `runnext` chain's inherited time slice never expires: those are real time), and
//! virtual time moves only when every goroutine waits, so a goroutine that spins until a
//! time passes never ends.
//!
//! ```
//! let total = gort::sim::run(7, 4, || {
//!     let (tx, rx) = gort::chan::bounded(2);
//!     for i in 0..10u64 {
//!         let tx = tx.clone();
//!         gort::spawn(move || tx.send(i).unwrap());
//!     }
//!     drop(tx);
//!     gort::time::sleep(std::time::Duration::from_secs(3600)); // virtual: instant
//!     rx.iter().sum::<u64>()
//! });
//! assert_eq!(total, 45);
//! ```

mod driver;

use std::fmt;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

pub(crate) use driver::{drive, virtual_start};

use crate::config::Builder;
use crate::dump::RunError;

/// The environment variable that makes [`check`] run one seed only (the replay).
pub const SEED_VAR: &str = "GORT_SIM_SEED";

/// A finished simulated run.
#[derive(Debug)]
pub struct Run<T> {
    /// What the main goroutine returned.
    pub value: T,
    /// A hash of every scheduling decision in order (which P ran which goroutine, with
    /// or without an inherited slice, and every clock jump): equal for equal schedules.
    pub schedule_hash: u64,
    /// Goroutine runs in the schedule.
    pub steps: u64,
}

/// A simulated run that failed.
#[derive(Debug)]
pub struct Failure {
    /// The seed that produced it.
    pub seed: u64,
    /// What went wrong: a deadlock report with a dump, or the main goroutine's panic.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gort::sim: seed {} failed: {}\nreplay: {}",
            self.seed,
            self.message,
            replay_command(self.seed)
        )
    }
}

impl std::error::Error for Failure {}

/// Runs `f` as the main goroutine of a simulated runtime with `procs` Ps and returns its
/// result. Other settings come from the environment as usual (`GORT_POLICY`, ...).
///
/// # Panics
/// If `procs` is invalid, if `f` panics, or on a deadlock, with the seed and the command
/// that replays it.
#[track_caller]
pub fn run<F, T>(seed: u64, procs: usize, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match try_run(seed, procs, f) {
        Ok(run) => run.value,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`run`], but returns the schedule hash with the result, and a deadlock or a
/// panic of `f` as a [`Failure`].
pub fn try_run<F, T>(seed: u64, procs: usize, f: F) -> Result<Run<T>, Failure>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    try_run_with(Builder::new().procs(procs), seed, f)
}

/// Like [`try_run`] with more settings (the builder's `simulate` is set to `seed`).
pub fn try_run_with<F, T>(builder: Builder, seed: u64, f: F) -> Result<Run<T>, Failure>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let fail = |message: String| Failure { seed, message };
    let rt = builder
        .simulate(seed)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let result = catch_unwind(AssertUnwindSafe(|| rt.try_block_on(f)));
    let sched = rt.sched();
    let schedule_hash = sched.sim_hash.load(std::sync::atomic::Ordering::SeqCst);
    let steps = sched.sim_steps.load(std::sync::atomic::Ordering::SeqCst);
    match result {
        Ok(Ok(value)) => Ok(Run {
            value,
            schedule_hash,
            steps,
        }),
        Ok(Err(RunError::Deadlock(report))) => Err(fail(report)),
        Err(payload) => Err(fail(format!("panicked: {}", panic_text(&payload)))),
    }
}

/// Runs `f` under every seed of `seeds` (or only `GORT_SIM_SEED` when set) with
/// `procs` Ps.
///
/// # Panics
/// At the first failing seed, with the failure and the one-line command that replays it.
#[track_caller]
pub fn check<F>(seeds: Range<u64>, procs: usize, f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    check_with(Builder::new().procs(procs), seeds, f)
}

/// Like [`check`] with more settings (a policy, say).
#[track_caller]
pub fn check_with<F>(builder: Builder, seeds: Range<u64>, f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let only = std::env::var(SEED_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let seeds: Vec<u64> = match only {
        Some(seed) => vec![seed],
        None => seeds.collect(),
    };
    for seed in seeds {
        let f = f.clone();
        if let Err(e) = try_run_with(builder.clone(), seed, move || f()) {
            panic!("{e}");
        }
    }
}

/// Whether the calling goroutine runs in a simulation.
pub fn is_simulated() -> bool {
    crate::context::current_sched().is_some_and(|s| s.config.simulate.is_some())
}

fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".into()
    }
}

/// The command that reruns the current test (or program) with one seed (and the
/// `GORT_*` settings that change a simulated schedule, when set).
fn replay_command(seed: u64) -> String {
    let env: String = ["GORT_POLICY", "GORT_CHAOS"]
        .iter()
        .filter_map(|var| Some(format!("{var}={} ", std::env::var(var).ok()?)))
        .collect();
    format!("{env}{}", replay_tail(seed))
}

fn replay_tail(seed: u64) -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_ref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let thread = std::thread::current();
    match (thread.name(), stem.rsplit_once('-')) {
        (Some(test), Some((bin, hash)))
            if test != "main" && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            let target = if bin == "gort" {
                "--lib".to_string()
            } else {
                format!("--test {bin}")
            };
            format!("{SEED_VAR}={seed} cargo test --release {target} -- {test} --exact")
        }
        _ => format!(
            "{SEED_VAR}={seed} {}",
            exe.map_or(stem, |p| p.display().to_string())
        ),
    }
}

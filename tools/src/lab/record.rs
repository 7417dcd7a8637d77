//! One row of results: a run of one workload under one configuration, with the
//! scheduler's counters and latency percentiles from `Runtime::metrics` after the run.

use std::time::Duration;

use gort::Metrics;

/// Counters and scheduling-latency percentiles of one run (totals over all Ps).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    /// Goroutine switches.
    pub switches: u64,
    /// Successful steals (batches).
    pub steals: u64,
    /// Goroutines moved by steals.
    pub stolen: u64,
    /// Times an M went spinning.
    pub spins: u64,
    /// Goroutines taken from the global queue.
    pub global_pulls: u64,
    /// Runs that came from the `runnext` slot.
    pub runnext_runs: u64,
    /// Local-queue overflows into the global queue.
    pub overflows: u64,
    /// Parks.
    pub parks: u64,
    /// Scheduling latency (runnable → running) p50, µs.
    pub sched_p50_us: f64,
    /// Scheduling latency p99, µs.
    pub sched_p99_us: f64,
    /// Scheduling latency p99.9, µs.
    pub sched_p999_us: f64,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

impl Counters {
    /// The counters of a finished run.
    pub fn from_metrics(m: &Metrics) -> Counters {
        let t = &m.total;
        Counters {
            switches: t.switches,
            steals: t.steals,
            stolen: t.stolen,
            spins: t.spins,
            global_pulls: t.global_pulls,
            runnext_runs: t.runnext_runs,
            overflows: t.overflows,
            parks: t.parks,
            sched_p50_us: us(m.sched_latency.quantile(0.5)),
            sched_p99_us: us(m.sched_latency.quantile(0.99)),
            sched_p999_us: us(m.sched_latency.quantile(0.999)),
        }
    }

    /// Column names, in the order of [`Counters::values`].
    pub const NAMES: [&'static str; 11] = [
        "switches",
        "steals",
        "stolen",
        "spins",
        "global_pulls",
        "runnext_runs",
        "overflows",
        "parks",
        "sched_p50_us",
        "sched_p99_us",
        "sched_p999_us",
    ];

    /// The values as floats, in the order of [`Counters::NAMES`].
    pub fn values(&self) -> [f64; 11] {
        [
            self.switches as f64,
            self.steals as f64,
            self.stolen as f64,
            self.spins as f64,
            self.global_pulls as f64,
            self.runnext_runs as f64,
            self.overflows as f64,
            self.parks as f64,
            self.sched_p50_us,
            self.sched_p99_us,
            self.sched_p999_us,
        ]
    }
}

/// Sojourn-time results of one offered-load level of the open-loop server.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sojourn {
    /// Offered load as a fraction of nominal capacity (procs / mean service time).
    pub load: f64,
    /// Requests completed.
    pub requests: u64,
    /// Completed requests per second over the level.
    pub achieved_rps: f64,
    /// Sojourn p50, µs.
    pub p50_us: f64,
    /// Sojourn p99, µs.
    pub p99_us: f64,
    /// Sojourn p99.9, µs.
    pub p999_us: f64,
    /// p99 of how late the dispatcher spawned requests after their scheduled arrival,
    /// µs: a check that the generator, not the scheduler, is not the bottleneck.
    pub dispatch_lag_p99_us: f64,
}

/// What a simulated run adds (`--sim`): its seed and schedule, and virtual time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimRun {
    /// The simulation seed.
    pub seed: u64,
    /// Goroutine runs in the schedule (`gort::sim::Run::steps`).
    pub steps: u64,
    /// Hash of every scheduling decision (`gort::sim::Run::schedule_hash`).
    pub schedule_hash: u64,
    /// Virtual time from the start to the end of the workload (`gort::time::now`).
    pub virtual_time: std::time::Duration,
}

/// One run's row.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// Workload name.
    pub workload: &'static str,
    /// Configuration name.
    pub config: &'static str,
    /// Ps of the runtime.
    pub procs: usize,
    /// Run index, from 0.
    pub run: usize,
    /// Wall time of the run (zero under `--sim`: simulated rows carry no wall time, so
    /// that equal seeds give equal files).
    pub wall: Duration,
    /// Open-loop results; `None` for closed workloads.
    pub sojourn: Option<Sojourn>,
    /// Scheduler counters.
    pub counters: Counters,
    /// Simulation results; `None` for real runs.
    pub sim: Option<SimRun>,
}

impl RunRecord {
    /// The number compared across configurations (lower is better): wall time in ms for
    /// closed workloads, sojourn p99 in µs for the open-loop server, schedule steps
    /// (goroutine runs) for a simulated run.
    pub fn value(&self) -> f64 {
        match (&self.sojourn, &self.sim) {
            (Some(s), _) => s.p99_us,
            (None, Some(sim)) => sim.steps as f64,
            (None, None) => self.wall.as_secs_f64() * 1e3,
        }
    }

    /// Offered load for open-loop rows, else `None`.
    pub fn load(&self) -> Option<f64> {
        self.sojourn.map(|s| s.load)
    }
}

//! The benchmark harness shared by `benches/sched.rs` and `benches/chan.rs` (no
//! criterion): each benchmark builds its own runtime, runs the workload `--warmup` times
//! (stack pool, free Gs, threads), then `--runs` times, and prints one line with the
//! median, the iteration count and the spread:
//!
//! ```text
//! spawn_join_batch        123.4 ns/op    iters=100000 runs=9 min=120.1 max=131.0
//! ```
//!
//! Options: `--runs N --iters N --warmup N --procs N` and name filters;
//! `GORT_BENCH_METRICS=1` also prints the runtime's counters per run.

use std::time::Duration;

/// How a benchmark's result is reported.
#[derive(Clone, Copy)]
pub enum Unit {
    /// Nanoseconds per operation; `per_iter` operations happen per iteration.
    Nanos { label: &'static str, per_iter: u64 },
    /// Milliseconds per run (the iteration count is the problem size).
    #[allow(dead_code)] // each benchmark binary compiles its own copy; not all use it
    Millis,
}

pub struct Bench {
    pub name: &'static str,
    /// Ps of the runtime; 0: `--procs`, else 2.
    pub procs: usize,
    pub iters: u64,
    pub runs: usize,
    pub unit: Unit,
    /// Runs on a goroutine (true) or on the calling thread (OS-thread baselines).
    pub on_goroutine: bool,
    /// Runs the workload with `iters` iterations; returns its time.
    pub work: fn(u64) -> Duration,
}

/// Command-line options (`cargo bench` itself passes `--bench`, which is ignored).
struct Opts {
    filters: Vec<String>,
    runs: Option<usize>,
    iters: Option<u64>,
    procs: Option<usize>,
    warmup: usize,
    metrics: bool,
}

impl Opts {
    fn parse(binary: &str, benches: &[Bench]) -> Opts {
        let mut o = Opts {
            filters: Vec::new(),
            runs: None,
            iters: None,
            procs: None,
            warmup: 1,
            metrics: std::env::var_os("GORT_BENCH_METRICS").is_some_and(|v| v != "0"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut num = |what: &str| -> u64 {
                args.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage(binary, benches, &format!("{what} needs a number")))
            };
            match a.as_str() {
                "--runs" => o.runs = Some(num("--runs").max(1) as usize),
                "--iters" => o.iters = Some(num("--iters").max(1)),
                "--warmup" => o.warmup = num("--warmup") as usize,
                "--procs" => o.procs = Some(num("--procs").max(1) as usize),
                "-h" | "--help" => usage(binary, benches, ""),
                s if s.starts_with('-') => {} // --bench and other cargo/libtest flags
                s => o.filters.push(s.to_owned()),
            }
        }
        o
    }

    fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn run(b: &Bench, o: &Opts) {
    let procs = match (b.procs, o.procs) {
        (0, Some(n)) => n,
        (0, None) => 2,
        (n, _) => n,
    };
    let rt = gort::Runtime::builder()
        .procs(procs)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a runtime: {e}"));
    let iters = o.iters.unwrap_or(b.iters);
    let runs = o.runs.unwrap_or(b.runs);
    let work = b.work;
    let once = || {
        if b.on_goroutine {
            rt.block_on(move || work(iters))
        } else {
            work(iters)
        }
    };
    for _ in 0..o.warmup {
        once();
    }
    let before = rt.metrics().total;
    let mut xs: Vec<f64> = (0..runs)
        .map(|_| {
            let d = once();
            match b.unit {
                Unit::Nanos { per_iter, .. } => d.as_nanos() as f64 / (iters * per_iter) as f64,
                Unit::Millis => d.as_secs_f64() * 1e3,
            }
        })
        .collect();
    let (lo, hi) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(0.0, f64::max),
    );
    let med = median(&mut xs);
    let label = match b.unit {
        Unit::Nanos { label, .. } => label,
        Unit::Millis => "ms",
    };
    println!(
        "{:<20} {:>12.1} {:<9} iters={} runs={} min={:.1} max={:.1}",
        b.name, med, label, iters, runs, lo, hi
    );
    if o.metrics && b.on_goroutine {
        let m = rt.metrics().total;
        let d = |a: u64, b: u64| a.saturating_sub(b) / runs as u64;
        println!(
            "  per run: spawned={} switches={} yields={} parks={} steals={} stolen={} \
             global_pulls={} overflows={} spins={} runnext_runs={}",
            d(m.spawned, before.spawned),
            d(m.switches, before.switches),
            d(m.yields, before.yields),
            d(m.parks, before.parks),
            d(m.steals, before.steals),
            d(m.stolen, before.stolen),
            d(m.global_pulls, before.global_pulls),
            d(m.overflows, before.overflows),
            d(m.spins, before.spins),
            d(m.runnext_runs, before.runnext_runs),
        );
    }
}

fn usage(binary: &str, benches: &[Bench], err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("error: {err}");
    }
    eprintln!(
        "usage: {binary} [--runs N] [--iters N] [--warmup N] [--procs N] [NAME_FILTER...]\n\
         benchmarks: {}",
        benches
            .iter()
            .map(|b| b.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 })
}

/// Parses the command line and runs the selected benchmarks of `binary`.
pub fn main(binary: &str, benches: &[Bench]) {
    let o = Opts::parse(binary, benches);
    let mut any = false;
    for b in benches.iter().filter(|b| o.selected(b.name)) {
        any = true;
        run(b, &o);
    }
    if !any {
        usage(
            binary,
            benches,
            &format!("no benchmark matches {:?}", o.filters),
        );
    }
}

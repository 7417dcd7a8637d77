//! Scheduler micro-benchmarks: spawn+join, yield round trips, skynet.
//!
//! A hand-written harness (no criterion): each benchmark builds its own runtime, runs the
//! workload once to warm up (stack pool, free Gs, threads), then `--runs` times, and
//! prints one line with the median, the iteration count and the spread:
//!
//! ```text
//! spawn_join_batch        123.4 ns/op    iters=100000 runs=9 min=120.1 max=131.0
//! ```
//!
//! `benches/go/main.go` prints the same format for the same workloads in Go, and
//! `benches/compare.sh` runs both side by side.
//!
//! ```text
//! cargo bench --bench sched                      # everything
//! cargo bench --bench sched -- skynet            # names containing "skynet"
//! cargo bench --bench sched -- --runs 3 yield    # options: --runs N --iters N --warmup N
//! ```
//!
//! `--procs N` changes the procs of the benchmarks that default to 2 (the yield
//! benchmarks always run on 1 P).
//!
//! `GORT_BENCH_METRICS=1` also prints the runtime's counters after each benchmark.

use std::time::{Duration, Instant};

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
    fn parse() -> Opts {
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
                    .unwrap_or_else(|| usage(&format!("{what} needs a number")))
            };
            match a.as_str() {
                "--runs" => o.runs = Some(num("--runs").max(1) as usize),
                "--iters" => o.iters = Some(num("--iters").max(1)),
                "--warmup" => o.warmup = num("--warmup") as usize,
                "--procs" => o.procs = Some(num("--procs").max(1) as usize),
                "-h" | "--help" => usage(""),
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

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("error: {err}");
    }
    eprintln!(
        "usage: sched [--runs N] [--iters N] [--warmup N] [--procs N] [NAME_FILTER...]\n\
         benchmarks: {}",
        BENCHES
            .iter()
            .map(|b| b.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 })
}

/// How a benchmark's result is reported.
#[derive(Clone, Copy)]
enum Unit {
    /// Nanoseconds per operation; `per_iter` operations happen per iteration.
    Nanos { label: &'static str, per_iter: u64 },
    /// Milliseconds per run (the iteration count is the problem size).
    Millis,
}

struct Bench {
    name: &'static str,
    procs: usize,
    iters: u64,
    runs: usize,
    unit: Unit,
    /// Runs the workload with `iters` iterations inside a goroutine; returns its time.
    work: fn(u64) -> Duration,
}

const BENCHES: &[Bench] = &[
    Bench {
        name: "spawn_join_batch",
        procs: 2,
        iters: 100_000,
        runs: 9,
        unit: Unit::Nanos {
            label: "ns/op",
            per_iter: 1,
        },
        work: spawn_join_batch,
    },
    Bench {
        name: "spawn_join_seq",
        procs: 2,
        iters: 200_000,
        runs: 9,
        unit: Unit::Nanos {
            label: "ns/op",
            per_iter: 1,
        },
        work: spawn_join_seq,
    },
    Bench {
        name: "yield_pair",
        procs: 1,
        iters: 1_000_000,
        runs: 9,
        // Each iteration is one round trip: one yield by each goroutine.
        unit: Unit::Nanos {
            label: "ns/yield",
            per_iter: 2,
        },
        work: yield_pair,
    },
    Bench {
        name: "yield_alone",
        procs: 1,
        iters: 2_000_000,
        runs: 9,
        unit: Unit::Nanos {
            label: "ns/yield",
            per_iter: 1,
        },
        work: yield_alone,
    },
    Bench {
        name: "skynet",
        procs: 2,
        iters: 1_000_000,
        runs: 5,
        unit: Unit::Millis,
        work: skynet_bench,
    },
];

/// Spawns `n` goroutines from one goroutine, then joins them all.
fn spawn_join_batch(n: u64) -> Duration {
    let t = Instant::now();
    let hs: Vec<_> = (0..n).map(|i| gort::spawn(move || i)).collect();
    let mut sum = 0u64;
    for h in hs {
        sum += h.join().unwrap();
    }
    let d = t.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    d
}

/// Spawns one goroutine and joins it at once, `n` times.
fn spawn_join_seq(n: u64) -> Duration {
    let t = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        sum += gort::spawn(move || i).join().unwrap();
    }
    let d = t.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    d
}

fn yielder(n: u64) -> u64 {
    for _ in 0..n {
        gort::yield_now();
    }
    n
}

/// Two goroutines (on a 1-P runtime) each yield `n` times, taking turns.
fn yield_pair(n: u64) -> Duration {
    let t = Instant::now();
    let a = gort::spawn(move || yielder(n));
    let b = gort::spawn(move || yielder(n));
    assert_eq!(a.join().unwrap() + b.join().unwrap(), 2 * n);
    t.elapsed()
}

/// One goroutine yields `n` times with nothing else runnable.
fn yield_alone(n: u64) -> Duration {
    let t = Instant::now();
    assert_eq!(gort::spawn(move || yielder(n)).join().unwrap(), n);
    t.elapsed()
}

/// Skynet: a 10-ary tree of goroutines whose `leaves` leaves return their index; each
/// inner node sums its children through their join handles.
fn skynet(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let hs: [gort::JoinHandle<u64>; 10] =
        std::array::from_fn(|i| gort::spawn(move || skynet(num + i as u64 * step, step)));
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

fn skynet_bench(leaves: u64) -> Duration {
    let t = Instant::now();
    let sum = skynet(0, leaves);
    let d = t.elapsed();
    assert_eq!(sum, leaves * (leaves - 1) / 2);
    d
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
        (1, _) | (_, None) => b.procs,
        (_, Some(n)) => n,
    };
    let rt = gort::Runtime::builder()
        .procs(procs)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a runtime: {e}"));
    let iters = o.iters.unwrap_or(b.iters);
    let runs = o.runs.unwrap_or(b.runs);
    let work = b.work;
    for _ in 0..o.warmup {
        rt.block_on(move || work(iters));
    }
    let before = rt.metrics().total;
    let mut xs: Vec<f64> = (0..runs)
        .map(|_| {
            let d = rt.block_on(move || work(iters));
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
    if o.metrics {
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

fn main() {
    let o = Opts::parse();
    let mut any = false;
    for b in BENCHES.iter().filter(|b| o.selected(b.name)) {
        any = true;
        run(b, &o);
    }
    if !any {
        usage(&format!("no benchmark matches {:?}", o.filters));
    }
}

//! Channel benchmarks: unbuffered ping-pong and bounded MPMC throughput, next to
//! crossbeam-channel on OS threads (and to Go, through `benches/go/main.go`, which prints
//! the same lines for the same names; `benches/compare.sh chan_pingpong_p1 …` runs both).
//!
//! ```text
//! chan_pingpong_p1     123.4 ns/rtt    iters=1000000 runs=9 min=120.1 max=131.0
//! ```
//!
//! - `chan_pingpong_p1`, `chan_pingpong_p2`: two goroutines send a value back and forth
//!   over two unbuffered channels, on a 1-P and a 2-P runtime; ns per round trip (two
//!   rendezvous).
//! - `chan_mpmc`: 4 sending and 4 receiving goroutines on one `bounded(64)` channel, 2 Ps
//!   (or `--procs`); ns per message.
//! - `crossbeam_mpmc`: the same with `crossbeam_channel::bounded(64)` and 8 OS threads.
//!
//! ```text
//! cargo bench --bench chan                       # everything
//! cargo bench --bench chan -- --runs 3 pingpong  # options: --runs N --iters N --warmup N --procs N
//! ```

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
        "usage: chan [--runs N] [--iters N] [--warmup N] [--procs N] [NAME_FILTER...]\n\
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
#[allow(dead_code)] // Millis: kept identical to sched.rs
enum Unit {
    /// Nanoseconds per operation; `per_iter` operations happen per iteration.
    Nanos { label: &'static str, per_iter: u64 },
    /// Milliseconds per run (the iteration count is the problem size).
    Millis,
}

struct Bench {
    name: &'static str,
    /// Ps of the runtime; 0: `--procs` or 2.
    procs: usize,
    iters: u64,
    runs: usize,
    unit: Unit,
    /// Runs on a goroutine (true) or on the calling thread (OS-thread baselines).
    on_goroutine: bool,
    work: fn(u64) -> Duration,
}

const PER_MSG: Unit = Unit::Nanos {
    label: "ns/msg",
    per_iter: 1,
};
const PER_RTT: Unit = Unit::Nanos {
    label: "ns/rtt",
    per_iter: 1,
};

const BENCHES: &[Bench] = &[
    Bench {
        name: "chan_pingpong_p1",
        procs: 1,
        iters: 1_000_000,
        runs: 9,
        unit: PER_RTT,
        on_goroutine: true,
        work: ping_pong,
    },
    Bench {
        name: "chan_pingpong_p2",
        procs: 2,
        iters: 1_000_000,
        runs: 9,
        unit: PER_RTT,
        on_goroutine: true,
        work: ping_pong,
    },
    Bench {
        name: "chan_mpmc",
        procs: 0,
        iters: 2_000_000,
        runs: 9,
        unit: PER_MSG,
        on_goroutine: true,
        work: mpmc_gort,
    },
    Bench {
        name: "crossbeam_mpmc",
        procs: 0,
        iters: 2_000_000,
        runs: 9,
        unit: PER_MSG,
        on_goroutine: false,
        work: mpmc_crossbeam,
    },
];

/// Two goroutines bounce a counter over two unbuffered channels `n` times.
fn ping_pong(n: u64) -> Duration {
    let (ping_tx, ping_rx) = gort::chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = gort::chan::bounded::<u64>(0);
    let t = Instant::now();
    let echo = gort::spawn(move || {
        for v in ping_rx {
            pong_tx.send(v + 1).unwrap();
        }
    });
    let mut v = 0;
    for _ in 0..n {
        ping_tx.send(v).unwrap();
        v = pong_rx.recv().unwrap();
    }
    drop(ping_tx);
    echo.join().unwrap();
    let d = t.elapsed();
    assert_eq!(v, n);
    d
}

const SENDERS: u64 = 4;
const RECEIVERS: u64 = 4;
const CAP: usize = 64;

/// 4 sender and 4 receiver goroutines move `n` values through one `bounded(64)`.
fn mpmc_gort(n: u64) -> Duration {
    let (tx, rx) = gort::chan::bounded::<u64>(CAP);
    let t = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let tx = tx.clone();
            gort::spawn(move || {
                for i in (s..n).step_by(SENDERS as usize) {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let receivers: Vec<_> = (0..RECEIVERS)
        .map(|_| {
            let rx = rx.clone();
            gort::spawn(move || rx.iter().sum::<u64>())
        })
        .collect();
    drop(rx);
    senders.into_iter().for_each(|h| h.join().unwrap());
    let sum: u64 = receivers.into_iter().map(|h| h.join().unwrap()).sum();
    let d = t.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    d
}

/// The same with crossbeam-channel and 8 OS threads.
fn mpmc_crossbeam(n: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAP);
    let t = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in (s..n).step_by(SENDERS as usize) {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let receivers: Vec<_> = (0..RECEIVERS)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || rx.iter().sum::<u64>())
        })
        .collect();
    drop(rx);
    senders.into_iter().for_each(|h| h.join().unwrap());
    let sum: u64 = receivers.into_iter().map(|h| h.join().unwrap()).sum();
    let d = t.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
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
            "  per run: switches={} parks={} steals={} spins={} runnext_runs={}",
            d(m.switches, before.switches),
            d(m.parks, before.parks),
            d(m.steals, before.steals),
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

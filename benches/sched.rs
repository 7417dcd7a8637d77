//! Scheduler micro-benchmarks: spawn+join, yield round trips, skynet.
//!
//! The harness (warm-up, runs, median line, options) is `benches/harness/mod.rs`.
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

mod harness;

use std::time::{Duration, Instant};

use harness::{Bench, Unit};

const BENCHES: &[Bench] = &[
    Bench {
        name: "spawn_join_batch",
        procs: 0,
        iters: 100_000,
        runs: 9,
        unit: Unit::Nanos {
            label: "ns/op",
            per_iter: 1,
        },
        on_goroutine: true,
        work: spawn_join_batch,
    },
    Bench {
        name: "spawn_join_seq",
        procs: 0,
        iters: 200_000,
        runs: 9,
        unit: Unit::Nanos {
            label: "ns/op",
            per_iter: 1,
        },
        on_goroutine: true,
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
        on_goroutine: true,
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
        on_goroutine: true,
        work: yield_alone,
    },
    Bench {
        name: "skynet",
        procs: 0,
        iters: 1_000_000,
        runs: 5,
        unit: Unit::Millis,
        on_goroutine: true,
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

fn main() {
    harness::main("sched", BENCHES);
}

//! Mutex under contention: gort's `sync::Mutex` against `std::sync::Mutex` on the same
//! goroutines, and against `parking_lot::Mutex` on OS threads.
//!
//! Each workload runs `WORKERS` lockers that each take the lock `ITERS` times and bump a
//! counter inside it (plus a few ns of work outside), and prints the median wall time per
//! lock/unlock pair over `RUNS` runs:
//!
//! ```text
//! cargo bench --bench sync
//! ```
//!
//! A `std::sync::Mutex` on goroutines is safe here only because its critical section
//! never parks; it blocks the OS thread (and with it every goroutine on that M) instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const ITERS: usize = 50_000;
const RUNS: usize = 7;
const PROCS: usize = 2;

/// A few ns of work between critical sections (no `pause`: it costs ~40 ns here).
fn work_outside() {
    let mut x = 0u64;
    for i in 0..16 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, times: Vec<Duration>) {
    let ops = (WORKERS * ITERS) as f64;
    let per = |d: Duration| d.as_nanos() as f64 / ops;
    let (min, max) = (
        per(*times.iter().min().unwrap()),
        per(*times.iter().max().unwrap()),
    );
    println!(
        "{name:<32} {:>8.1} ns/op    workers={WORKERS} iters={ITERS} runs={RUNS} min={min:.1} max={max:.1}",
        per(median(times))
    );
}

/// Runs `body` on `WORKERS` goroutines of a `PROCS`-proc runtime, once per run.
fn on_goroutines<L: Send + Sync + 'static>(name: &str, make: impl Fn() -> L, body: fn(&L)) {
    let rt = gort::Runtime::builder().procs(PROCS).build().unwrap();
    let mut times = Vec::new();
    for run in 0..=RUNS {
        let lock = Arc::new(make());
        let t = rt.block_on(move || {
            let t = Instant::now();
            let hs: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let lock = lock.clone();
                    gort::spawn(move || {
                        for _ in 0..ITERS {
                            body(&lock);
                            work_outside();
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            t.elapsed()
        });
        if run > 0 {
            times.push(t); // run 0 warms up
        }
    }
    report(name, times);
}

/// Runs `body` on `WORKERS` OS threads, once per run.
fn on_threads<L: Send + Sync + 'static>(name: &str, make: impl Fn() -> L, body: fn(&L)) {
    let mut times = Vec::new();
    for run in 0..=RUNS {
        let lock = Arc::new(make());
        let t = Instant::now();
        let hs: Vec<_> = (0..WORKERS)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..ITERS {
                        body(&lock);
                        work_outside();
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        if run > 0 {
            times.push(t.elapsed());
        }
    }
    report(name, times);
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));

    if want("mutex_gort_goroutines") {
        on_goroutines(
            "mutex_gort_goroutines",
            || gort::sync::Mutex::new(0u64),
            |m| *m.lock() += 1,
        );
    }
    if want("mutex_std_goroutines") {
        on_goroutines(
            "mutex_std_goroutines",
            || std::sync::Mutex::new(0u64),
            |m| *m.lock().unwrap() += 1,
        );
    }
    if want("mutex_gort_threads") {
        on_threads(
            "mutex_gort_threads",
            || gort::sync::Mutex::new(0u64),
            |m| *m.lock() += 1,
        );
    }
    if want("mutex_parking_lot_threads") {
        on_threads(
            "mutex_parking_lot_threads",
            || parking_lot::Mutex::new(0u64),
            |m| *m.lock() += 1,
        );
    }
    if want("mutex_std_threads") {
        on_threads(
            "mutex_std_threads",
            || std::sync::Mutex::new(0u64),
            |m| *m.lock().unwrap() += 1,
        );
    }
    if want("mutex_gort_uncontended") {
        let m = gort::sync::Mutex::new(0u64);
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            for _ in 0..WORKERS * ITERS {
                *std::hint::black_box(&m).lock() += 1;
            }
            times.push(t.elapsed());
        }
        report("mutex_gort_uncontended", times);
    }
    if want("mutex_parking_lot_uncontended") {
        let m = parking_lot::Mutex::new(0u64);
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            for _ in 0..WORKERS * ITERS {
                *std::hint::black_box(&m).lock() += 1;
            }
            times.push(t.elapsed());
        }
        report("mutex_parking_lot_uncontended", times);
    }
}

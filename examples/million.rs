//! One million goroutines parked at once.
//!
//! Spawns N goroutines (default 1,000,000; `cargo run --release --example million -- N`),
//! each of which parks behind a gate; once all are parked, measures memory, opens the
//! gate, and joins them all. Prints spawn cost, RSS per parked goroutine, wall time and
//! the scheduler counters.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Goroutines wait here until `open`. Built on `gort::park` until gort grows sync types.
struct Gate {
    open: AtomicBool,
    waiters: Mutex<Vec<gort::Goroutine>>,
    parked: AtomicUsize,
    all_parked: usize,
    main: gort::Goroutine,
}

impl Gate {
    fn wait(&self) {
        {
            let mut w = self.waiters.lock().unwrap();
            if self.open.load(Acquire) {
                return;
            }
            w.push(gort::current());
        }
        if self.parked.fetch_add(1, AcqRel) + 1 == self.all_parked {
            self.main.unpark();
        }
        while !self.open.load(Acquire) {
            gort::park();
        }
    }

    fn open(&self) {
        self.open.store(true, Release);
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap());
        for g in waiters {
            g.unpark();
        }
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.replace('_', "").parse().expect("N must be a number"))
        .unwrap_or(1_000_000);
    let rt = gort::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "million: {n} goroutines on {} procs, stack {} KiB each (address space)",
        rt.config().procs,
        rt.config().stack_size / 1024
    );
    let wall = Instant::now();
    let rss_before = rss_kib();
    let report = rt.block_on(move || {
        let gate = Arc::new(Gate {
            open: AtomicBool::new(false),
            waiters: Mutex::new(Vec::with_capacity(n)),
            parked: AtomicUsize::new(0),
            all_parked: n,
            main: gort::current(),
        });
        let t = Instant::now();
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let g = gate.clone();
            handles.push(gort::spawn(move || {
                g.wait();
                i as u64
            }));
            if (i + 1) % (n / 5).max(1) == 0 {
                println!("  spawned {:>9}  ({:?})", i + 1, t.elapsed());
            }
        }
        let spawn_ns = t.elapsed().as_nanos() as f64 / n as f64;
        while gate.parked.load(Acquire) < n {
            gort::park();
        }
        let parked_at = t.elapsed();
        let rss_parked = rss_kib();
        println!(
            "  all {n} parked   ({parked_at:?}), RSS {} MiB",
            rss_parked / 1024
        );
        let t = Instant::now();
        gate.open();
        let mut sum = 0u64;
        for (i, h) in handles.into_iter().enumerate() {
            sum += h.join().unwrap();
            if (i + 1) % (n / 5).max(1) == 0 {
                println!("  joined  {:>9}  ({:?})", i + 1, t.elapsed());
            }
        }
        assert_eq!(
            sum,
            (n as u64) * (n as u64 - 1) / 2,
            "every result came back once"
        );
        (spawn_ns, rss_parked, t.elapsed())
    });
    let (spawn_ns, rss_parked, release) = report;
    let per_g = (rss_parked.saturating_sub(rss_before)) as f64 * 1024.0 / n as f64;
    let m = rt.metrics();
    println!("spawn:        {spawn_ns:.0} ns/goroutine");
    println!(
        "RSS parked:   {:.0} bytes/goroutine ({} MiB total)",
        per_g,
        rss_parked / 1024
    );
    println!("release+join: {release:?}");
    println!("wall:         {:?}", wall.elapsed());
    println!(
        "counters:     switches {} parks {} steals {} (stolen {}) global pulls {} overflows {} spins {}",
        m.total.switches,
        m.total.parks,
        m.total.steals,
        m.total.stolen,
        m.total.global_pulls,
        m.total.overflows,
        m.total.spins
    );
    println!(
        "stacks:       {} carved in {} slabs, guard {:?}, {} trimmed; threads {}",
        m.stacks_allocated, m.stack_slabs, m.stack_guard, m.stacks_trimmed, m.threads
    );
}

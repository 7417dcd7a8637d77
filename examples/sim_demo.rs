//! A small concurrent program run in gort's deterministic simulation: the same seed
//! prints the same schedule hash every time, another seed another one.
//!
//!     cargo run --release --example sim_demo -- --seed 42 [--procs 4]
//!
//! Workers take jobs from a channel, sleep a virtual while per job, and add their
//! results under a mutex; the main goroutine collects the order in which jobs finished.

use std::sync::Arc;
use std::time::Duration;

fn main() {
    let mut seed: u64 = std::env::var(gort::sim::SEED_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut procs = 4;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match a.as_str() {
            "--seed" => seed = value("--seed"),
            "--procs" => procs = value("--procs") as usize,
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let run = gort::sim::try_run(seed, procs, program).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let (sum, order, elapsed) = run.value;
    println!("seed: {seed}, procs: {procs}");
    println!(
        "schedule hash: {:016x} ({} steps)",
        run.schedule_hash, run.steps
    );
    println!("result: sum {sum}, finishing order {order:?}");
    println!("virtual time: {elapsed:?}");
}

/// Eight jobs on three workers; returns the sum, the order jobs finished in, and how
/// much virtual time passed.
fn program() -> (u64, Vec<u64>, Duration) {
    let start = gort::time::now();
    let (jobs_tx, jobs_rx) = gort::chan::bounded::<u64>(2);
    let (done_tx, done_rx) = gort::chan::unbounded::<u64>();
    let total = Arc::new(gort::sync::Mutex::new(0u64));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (jobs, done, total) = (jobs_rx.clone(), done_tx.clone(), total.clone());
            gort::spawn(move || {
                for job in jobs.iter() {
                    gort::time::sleep(Duration::from_millis(10 * (job % 3 + 1)));
                    *total.lock() += job * job;
                    done.send(job).unwrap();
                    gort::yield_now();
                }
            })
        })
        .collect();
    drop((jobs_rx, done_tx));
    for job in 1..=8 {
        jobs_tx.send(job).unwrap();
    }
    drop(jobs_tx);
    let order: Vec<u64> = done_rx.iter().collect();
    for w in workers {
        w.join().unwrap();
    }
    let sum = *total.lock();
    (sum, order, gort::time::now() - start)
}

fn usage(msg: &str) -> ! {
    eprintln!("sim_demo: {msg}\nusage: sim_demo [--seed N] [--procs N]");
    std::process::exit(2)
}

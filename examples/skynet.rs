//! Skynet: a 10-ary tree of goroutines, 1,000,000 leaves (1,111,111 goroutines in all).
//! Each leaf returns its index and each inner node sums its ten children through their
//! join handles; the root's sum must be 499999500000.
//!
//! ```text
//! cargo run --release --example skynet            # procs = usable CPUs
//! GORT_PROCS=2 cargo run --release --example skynet
//! ```

use std::time::Instant;

const LEAVES: u64 = 1_000_000;
const FANOUT: u64 = 10;

fn skynet(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / FANOUT;
    let children: Vec<gort::JoinHandle<u64>> = (0..FANOUT)
        .map(|i| gort::spawn(move || skynet(num + i * step, step)))
        .collect();
    children.into_iter().map(|h| h.join().unwrap()).sum()
}

fn main() {
    let rt = gort::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let procs = rt.config().procs;
    let t = Instant::now();
    let sum = rt.block_on(|| skynet(0, LEAVES));
    let elapsed = t.elapsed();
    assert_eq!(sum, 499_999_500_000);
    println!(
        "skynet: sum {sum} in {:.1} ms (procs={procs}, {} goroutines)",
        elapsed.as_secs_f64() * 1e3,
        rt.metrics().total.spawned
    );
}

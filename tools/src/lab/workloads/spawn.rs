//! `spawn`: the cost of creating, scheduling and joining many tiny goroutines from one
//! parent. Where spawned goroutines go (`runnext`, local queue, overflow to the global
//! queue) and how idle Ps steal them decides the time.

use super::Scale;

fn n(scale: Scale) -> u64 {
    match scale {
        Scale::Quick => 20_000,
        Scale::Full => 200_000,
    }
}

/// Spawns N goroutines that return their index and sums the joins.
pub fn run(scale: Scale) -> u64 {
    let hs: Vec<_> = (0..n(scale)).map(|i| gort::spawn(move || i)).collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

/// Sum of 0..N.
pub fn expect(scale: Scale) -> u64 {
    let n = n(scale);
    n * (n - 1) / 2
}

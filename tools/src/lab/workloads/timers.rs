//! `timers`: N goroutines each sleep R times for a random 0–999 µs (seeded per
//! goroutine) and report every wakeup to one collector goroutine over a channel. Timer
//! wakeups and the collector's wakeups are placed by the policy's `woken`; in
//! simulation it is the workload whose virtual elapsed time is not zero.

use std::time::Duration;

use super::super::rng::Rng;
use super::Scale;

fn size(scale: Scale) -> (u64, u64) {
    match scale {
        Scale::Quick => (200, 10),
        Scale::Full => (1_000, 20),
    }
}

/// Runs the sleepers and returns the collector's sum of their indices.
pub fn run(scale: Scale) -> u64 {
    let (n, rounds) = size(scale);
    let (tx, rx) = gort::chan::bounded::<u64>(16);
    let collector = gort::spawn(move || rx.iter().sum::<u64>());
    let sleepers: Vec<_> = (0..n)
        .map(|i| {
            let tx = tx.clone();
            gort::spawn(move || {
                let mut rng = Rng::new(i);
                for _ in 0..rounds {
                    gort::time::sleep(Duration::from_micros(rng.next_u64() % 1_000));
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for s in sleepers {
        s.join().unwrap();
    }
    collector.join().unwrap()
}

/// Every sleeper reports its index once per round.
pub fn expect(scale: Scale) -> u64 {
    let (n, rounds) = size(scale);
    rounds * n * (n - 1) / 2
}

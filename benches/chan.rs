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

mod harness;

use std::time::{Duration, Instant};

use harness::{Bench, Unit};

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

fn main() {
    harness::main("chan", BENCHES);
}

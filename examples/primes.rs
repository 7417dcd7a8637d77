//! Go's concurrent prime sieve: a generator goroutine feeds 2, 3, 4, … into a chain of
//! filter goroutines connected by unbuffered channels, one filter per prime found so far;
//! what comes out of the end of the chain is the next prime, which gets a filter of its
//! own. The first 10,000 primes make a chain of 10,000 goroutines; the last is 104729.
//!
//! ```text
//! cargo run --release --example primes                  # procs = usable CPUs
//! GORT_PROCS=1 cargo run --release --example primes
//! ```
//!
//! When `main` is done it drops the end of the chain; each filter's send then fails and
//! it returns, dropping its own input, so the whole chain unwinds by itself.

use std::time::Instant;

use gort::chan::{self, Receiver, Sender};

const PRIMES: usize = 10_000;

/// Sends 2, 3, 4, … until the first filter is gone.
fn generate(out: Sender<u64>) {
    for i in 2.. {
        if out.send(i).is_err() {
            return;
        }
    }
}

/// Passes on the values not divisible by `prime`.
fn filter(input: Receiver<u64>, out: Sender<u64>, prime: u64) {
    for i in input {
        if i % prime != 0 && out.send(i).is_err() {
            return;
        }
    }
}

fn main() {
    let rt = gort::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let procs = rt.config().procs;
    let t = Instant::now();
    let last = rt.block_on(|| {
        let (tx, mut rx) = chan::bounded(0);
        gort::spawn(move || generate(tx));
        let mut prime = 0;
        for _ in 0..PRIMES {
            prime = rx.recv().expect("the chain never ends");
            let (tx, next) = chan::bounded(0);
            gort::spawn(move || filter(rx, tx, prime));
            rx = next;
        }
        prime
    });
    let elapsed = t.elapsed();
    assert_eq!(last, 104_729, "the 10,000th prime");
    println!(
        "primes: the {PRIMES}th prime is {last}, in {:.1} ms (procs={procs}, {} goroutines)",
        elapsed.as_secs_f64() * 1e3,
        rt.metrics().total.spawned
    );
}

//! Skynet as in the original benchmark (github.com/atemerev/skynet): a 10-ary tree of
//! goroutines, 1,000,000 leaves (1,111,111 goroutines in all). Every node makes a
//! channel, spawns its ten children with the sending end, and sums the ten values it
//! receives; a leaf sends its index. The root's sum must be 499999500000.
//! (`examples/skynet.rs` is the same tree summed through join handles.)
//!
//! ```text
//! cargo run --release --example skynet_chan            # procs = usable CPUs
//! GORT_PROCS=2 cargo run --release --example skynet_chan
//! ```

use std::time::Instant;

use gort::chan::{self, Sender};

const LEAVES: u64 = 1_000_000;
const FANOUT: u64 = 10;

fn skynet(out: Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        out.send(num).unwrap();
        return;
    }
    // Unbuffered, like Go's `make(chan int)` in the original.
    let (tx, rx) = chan::bounded(0);
    let step = size / FANOUT;
    for i in 0..FANOUT {
        let tx = tx.clone();
        gort::spawn(move || skynet(tx, num + i * step, step));
    }
    drop(tx);
    let sum: u64 = (0..FANOUT).map(|_| rx.recv().unwrap()).sum();
    out.send(sum).unwrap();
}

fn main() {
    let rt = gort::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let procs = rt.config().procs;
    let t = Instant::now();
    let sum = rt.block_on(|| {
        let (tx, rx) = chan::bounded(0);
        gort::spawn(move || skynet(tx, 0, LEAVES));
        rx.recv().unwrap()
    });
    let elapsed = t.elapsed();
    assert_eq!(sum, 499_999_500_000);
    println!(
        "skynet_chan: sum {sum} in {:.1} ms (procs={procs}, {} goroutines)",
        elapsed.as_secs_f64() * 1e3,
        rt.metrics().total.spawned
    );
}

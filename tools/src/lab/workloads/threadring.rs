//! `threadring`: 503 goroutines in a ring, each waiting on its own unbuffered channel;
//! a token is passed N hops (the Computer Language Benchmarks Game shape). One goroutine
//! is runnable at a time: the cost is the wake/switch chain, which `runnext` keeps on
//! one P and which idle Ps may pull apart by stealing.

use super::Scale;

const RING: usize = 503;

fn hops(scale: Scale) -> u64 {
    match scale {
        Scale::Quick => 50_000,
        Scale::Full => 500_000,
    }
}

/// Passes the token and returns the index of the goroutine holding it at the end.
pub fn run(scale: Scale) -> u64 {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..RING).map(|_| gort::chan::bounded::<u64>(0)).unzip();
    let (done_tx, done_rx) = gort::chan::bounded::<u64>(1);
    let mut hs = Vec::with_capacity(RING);
    for (i, rx) in rxs.into_iter().enumerate() {
        let next = txs[(i + 1) % RING].clone();
        let done = done_tx.clone();
        hs.push(gort::spawn(move || {
            // A token of 0 means "stop": every goroutine forwards it once and ends.
            while let Ok(left) = rx.recv() {
                if left == 1 {
                    done.send(i as u64).unwrap();
                    let _ = next.send(0);
                    return;
                }
                if left == 0 {
                    let _ = next.send(0);
                    return;
                }
                next.send(left - 1).unwrap();
            }
        }));
    }
    drop(done_tx);
    txs[0].send(hops(scale)).unwrap();
    let winner = done_rx.recv().unwrap();
    drop(txs);
    for h in hs {
        h.join().unwrap();
    }
    winner
}

/// The token starts at goroutine 0 holding N and ends at the one that sees 1.
pub fn expect(scale: Scale) -> u64 {
    (hops(scale) - 1) % RING as u64
}

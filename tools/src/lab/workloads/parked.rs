//! `parked`: N goroutines block on one channel's receive queue, then dropping the only
//! sender wakes them all at once. It measures spawn-and-park, the mass wakeup and how
//! the woken goroutines spread over the Ps.

use super::Scale;

fn n(scale: Scale) -> u64 {
    match scale {
        Scale::Quick => 20_000,
        Scale::Full => 100_000,
    }
}

/// Parks N goroutines, releases them, joins them; returns how many saw the close.
pub fn run(scale: Scale) -> u64 {
    let (tx, rx) = gort::chan::bounded::<()>(0);
    let (ready_tx, ready_rx) = gort::chan::unbounded::<()>();
    let hs: Vec<_> = (0..n(scale))
        .map(|_| {
            let rx = rx.clone();
            let ready = ready_tx.clone();
            gort::spawn(move || {
                ready.send(()).unwrap();
                u64::from(rx.recv().is_err())
            })
        })
        .collect();
    // Wait until every goroutine has started (and is about to park) before releasing.
    for _ in 0..n(scale) {
        ready_rx.recv().unwrap();
    }
    drop(tx);
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

/// Every goroutine sees the close.
pub fn expect(scale: Scale) -> u64 {
    n(scale)
}

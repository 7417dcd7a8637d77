//! `ping-pong`: two goroutines bounce a counter over two unbuffered channels. Each send
//! wakes the peer into the sender's `runnext`, so with Go's defaults the pair stays on
//! one P; without `runnext` (or when idle Ps steal the woken one) it pays cross-P wakeups.

use super::Scale;

fn rounds(scale: Scale) -> u64 {
    match scale {
        Scale::Quick => 20_000,
        Scale::Full => 200_000,
    }
}

/// Runs the rounds and returns the final counter.
pub fn run(scale: Scale) -> u64 {
    let n = rounds(scale);
    let (to_pong, from_ping) = gort::chan::bounded::<u64>(0);
    let (to_ping, from_pong) = gort::chan::bounded::<u64>(0);
    let pong = gort::spawn(move || {
        while let Ok(v) = from_ping.recv() {
            if to_ping.send(v + 1).is_err() {
                break;
            }
        }
    });
    let mut v = 0;
    for _ in 0..n {
        to_pong.send(v).unwrap();
        v = from_pong.recv().unwrap();
    }
    drop(to_pong);
    pong.join().unwrap();
    v
}

/// One increment per round.
pub fn expect(scale: Scale) -> u64 {
    rounds(scale)
}

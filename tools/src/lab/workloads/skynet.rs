//! `skynet`: a tree of goroutines with fan-out 10 (the classic skynet benchmark, with a
//! smaller depth). Every inner node spawns ten children and joins them: a burst of work
//! on one P that idle Ps must steal, so it measures stealing.

use super::Scale;

fn depth(scale: Scale) -> u32 {
    match scale {
        Scale::Quick => 4,
        Scale::Full => 5,
    }
}

fn node(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let child = size / 10;
    let hs: Vec<_> = (0..10)
        .map(|i| gort::spawn(move || node(num + i * child, child)))
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

/// Runs the tree and returns the sum of the leaves' numbers.
pub fn run(scale: Scale) -> u64 {
    node(0, 10u64.pow(depth(scale)))
}

/// Sum of 0..10^depth.
pub fn expect(scale: Scale) -> u64 {
    let n = 10u64.pow(depth(scale));
    n * (n - 1) / 2
}

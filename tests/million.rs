//! A chain of 1,000,000 goroutines, each joining the next: all parked at once.
//! Long: runs in release builds (`cargo test --release`), ignored in debug ones.

/// Returns the depth reached and the process's mapping count seen at the bottom, when
/// every goroutine of the chain is alive.
fn chain(depth: u32, limit: u32) -> (u32, usize) {
    if depth == limit {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        return (depth, maps.lines().count());
    }
    gort::spawn(move || chain(depth + 1, limit)).join().unwrap()
}

#[test]
#[cfg_attr(debug_assertions, ignore = "long: run with --release")]
fn a_chain_of_a_million_joined_goroutines_completes() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let n = 1_000_000;
    let (depth, maps) = rt.block_on(move || chain(0, n));
    assert_eq!(depth, n);
    // A million stacks live at once, and guard pages that add no mapping keep the
    // process far below the default vm.max_map_count (65530).
    assert!(maps < 10_000, "{maps} mappings with a million live stacks");
    let m = rt.metrics();
    assert_eq!(m.total.spawned, n as u64 + 1);
    assert!(m.total.parks >= n as u64 / 2, "the chain parked: {m:?}");
    assert!(m.stacks_allocated >= n as usize, "{m:?}");
}

#[test]
fn a_short_chain_completes_in_any_build() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    assert_eq!(rt.block_on(|| chain(0, 10_000)).0, 10_000);
}

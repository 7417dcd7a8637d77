//! `gort::blocking` and `gort::fs` benchmarks.
//!
//! - `blocking_fast`: one goroutine calls `gort::blocking(|| black_box(i))` in a loop (the
//!   fast path: the call is too short for sysmon to take the P); ns per call.
//!   `blocking_baseline` is the same loop without `blocking`, so the difference is the
//!   cost of the call.
//! - `files_1000_4k`, `files_1000_64k`: 1,000 goroutines each read a different file of
//!   4 KiB / 64 KiB with `gort::fs::read` (files created once, up front, in a temp
//!   directory removed at exit; warm in the page cache); ms per run of all 1,000.
//!   `stdfs_1000_4k` is the same with `std::fs::read` called directly on the goroutines,
//!   for the cost of going through `blocking`.
//!
//! The harness (warm-up, runs, median line, options) is `benches/harness/mod.rs`;
//! `benches/go/files.go` has the Go side of the file workloads, and
//! `benches/compare.sh files_1000_4k files_1000_64k` tables them side by side.
//!
//! ```text
//! cargo bench --bench blocking                      # everything
//! cargo bench --bench blocking -- --runs 3 files    # names containing "files"
//! ```

mod harness;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use harness::{Bench, Unit};

const BENCHES: &[Bench] = &[
    Bench {
        name: "blocking_fast",
        procs: 1,
        iters: 2_000_000,
        runs: 9,
        unit: Unit::Nanos {
            label: "ns/call",
            per_iter: 1,
        },
        on_goroutine: true,
        work: blocking_fast,
    },
    Bench {
        name: "blocking_baseline",
        procs: 1,
        iters: 2_000_000,
        runs: 9,
        unit: Unit::Nanos {
            label: "ns/call",
            per_iter: 1,
        },
        on_goroutine: true,
        work: blocking_baseline,
    },
    Bench {
        name: "files_1000_4k",
        procs: 0,
        iters: 1000,
        runs: 9,
        unit: Unit::Millis,
        on_goroutine: true,
        work: files_4k,
    },
    Bench {
        name: "files_1000_64k",
        procs: 0,
        iters: 1000,
        runs: 9,
        unit: Unit::Millis,
        on_goroutine: true,
        work: files_64k,
    },
    Bench {
        name: "stdfs_1000_4k",
        procs: 0,
        iters: 1000,
        runs: 9,
        unit: Unit::Millis,
        on_goroutine: true,
        work: stdfs_4k,
    },
];

fn blocking_fast(n: u64) -> Duration {
    let t = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(gort::blocking(|| std::hint::black_box(i)));
    }
    let d = t.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    d
}

fn blocking_baseline(n: u64) -> Duration {
    let t = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(std::hint::black_box(i));
    }
    let d = t.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    d
}

/// The benchmark files live under this directory (removed by `main` at exit).
static ROOT: OnceLock<PathBuf> = OnceLock::new();
static FILES_4K: OnceLock<Vec<PathBuf>> = OnceLock::new();
static FILES_64K: OnceLock<Vec<PathBuf>> = OnceLock::new();

fn root() -> &'static Path {
    ROOT.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("gort-bench-files-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    })
}

/// `n` files of `size` bytes, file `i` filled with the byte `i % 251`; made on first use.
fn files(set: &'static OnceLock<Vec<PathBuf>>, size: usize, n: u64) -> &'static [PathBuf] {
    // Blocking work itself: this runs on the benchmark's goroutine.
    let paths = set.get_or_init(|| {
        gort::blocking(|| {
            let dir = root().join(format!("{size}"));
            std::fs::create_dir_all(&dir).unwrap();
            (0..n)
                .map(|i| {
                    let p = dir.join(format!("{i}"));
                    std::fs::write(&p, vec![(i % 251) as u8; size]).unwrap();
                    p
                })
                .collect()
        })
    });
    assert_eq!(paths.len() as u64, n, "one file count per process");
    paths
}

/// `paths.len()` goroutines each read one file with `read` and check it; returns the wall
/// time from the first spawn to the last join.
fn read_all(paths: &'static [PathBuf], size: usize, read: fn(&Path) -> Vec<u8>) -> Duration {
    let t = Instant::now();
    let hs: Vec<_> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            gort::spawn(move || {
                let v = read(p);
                v.len() == size && v[0] == (i % 251) as u8
            })
        })
        .collect();
    let ok = hs
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&ok| ok)
        .count();
    let d = t.elapsed();
    assert_eq!(ok, paths.len(), "files read back wrong");
    d
}

fn files_4k(n: u64) -> Duration {
    read_all(files(&FILES_4K, 4 << 10, n), 4 << 10, |p| {
        gort::fs::read(p).unwrap()
    })
}

fn files_64k(n: u64) -> Duration {
    read_all(files(&FILES_64K, 64 << 10, n), 64 << 10, |p| {
        gort::fs::read(p).unwrap()
    })
}

fn stdfs_4k(n: u64) -> Duration {
    read_all(files(&FILES_4K, 4 << 10, n), 4 << 10, |p| {
        std::fs::read(p).unwrap()
    })
}

fn main() {
    harness::main("blocking", BENCHES);
    if let Some(dir) = ROOT.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

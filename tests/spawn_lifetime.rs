//! Ten million goroutines over the life of one runtime, spawned in batches of 100,000:
//! every result arrives exactly once, and memory does not grow with the number of
//! goroutines that have lived (dead Gs and stacks are reused, not accumulated).
//! Long: runs in release builds (`cargo test --release`), ignored in debug ones.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use gort::chan;

/// A value only goroutine `i` produces (odd multiplier: distinct for distinct `i`).
fn value(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 17)
}

/// The process's resident memory, KiB.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS: <n> kB")
}

/// Results as they arrive: one bit per goroutine, count and sum for each delivery path.
struct Tally {
    /// Starts all ones and a delivery clears its bit: every page is touched before the
    /// first RSS reading, so the bitmap does not count as growth later.
    pending: Vec<u64>,
    by_chan: (u64, u64),
    by_join: (u64, u64),
}

impl Tally {
    fn new(n: u64) -> Tally {
        Tally {
            pending: vec![!0; n.div_ceil(64) as usize],
            by_chan: (0, 0),
            by_join: (0, 0),
        }
    }

    fn received(&mut self, i: u64, v: u64) {
        assert_eq!(v, value(i), "goroutine {i} sent a wrong value");
        let (word, bit) = ((i / 64) as usize, 1u64 << (i % 64));
        assert!(
            self.pending[word] & bit != 0,
            "goroutine {i}'s value arrived twice"
        );
        self.pending[word] &= !bit;
        self.by_chan.0 += 1;
        self.by_chan.1 = self.by_chan.1.wrapping_add(v);
    }

    fn joined(&mut self, i: u64, v: u64) {
        assert_eq!(v, value(i), "goroutine {i}'s handle returned a wrong value");
        self.by_join.0 += 1;
        self.by_join.1 = self.by_join.1.wrapping_add(v);
    }
}

struct Outcome {
    tally: Tally,
    rss_first_kib: u64,
    rss_end_kib: u64,
}

/// Occupies one P until the returned flag is set: a goroutine spinning without a
/// scheduling point keeps its P (scheduling is cooperative). Returns once it runs.
fn hold_a_p() -> (Arc<AtomicBool>, gort::JoinHandle<()>) {
    let (running, release) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (r, rel) = (running.clone(), release.clone());
    let h = gort::spawn(move || {
        r.store(true, SeqCst);
        while !rel.load(SeqCst) {
            std::hint::spin_loop();
        }
    });
    while !running.load(SeqCst) {
        gort::yield_now();
    }
    (release, h)
}

/// Spawns `batches` × `batch` goroutines on a 2-P runtime. Goroutine `i` sends
/// `(i, value(i))` on a channel and returns `value(i)` through its handle; each batch is
/// fully received and joined before the next one starts.
///
/// Every batch is spawned while the other P is held, so that all of its goroutines exist
/// at once before any runs: dead Gs are kept for reuse, never freed, so the process
/// keeps the memory of the most goroutines ever alive together. Holding the P makes that
/// number the batch size from the first batch on, instead of a scheduling accident, and
/// the RSS bound then measures what the later batches add.
fn spawn_batches(rt: &gort::Runtime, batches: u64, batch: u64) -> Outcome {
    rt.block_on(move || {
        let mut tally = Tally::new(batches * batch);
        // Unbounded, so that no sender parks holding its stack: a batch's goroutines
        // finish as they run and the test measures reuse, not 100,000 parked stacks.
        let (tx, rx) = chan::unbounded::<(u64, u64)>();
        let mut rss_first_kib = 0;
        for b in 0..batches {
            let first = b * batch;
            let (release, holder) = hold_a_p();
            let handles: Vec<_> = (first..first + batch)
                .map(|i| {
                    let tx = tx.clone();
                    gort::spawn(move || {
                        let v = value(i);
                        tx.send((i, v)).expect("the receiver lives");
                        v
                    })
                })
                .collect();
            release.store(true, SeqCst);
            holder.join().expect("the holder does not panic");
            for _ in 0..batch {
                let (i, v) = rx.recv().expect("a sender lives");
                assert!(
                    (first..first + batch).contains(&i),
                    "goroutine {i} is not of batch {b}"
                );
                tally.received(i, v);
            }
            for (i, h) in (first..).zip(handles) {
                tally.joined(i, h.join().expect("no goroutine panics"));
            }
            // Every goroutine of the batch has been joined: nothing more may arrive.
            assert!(rx.try_recv().is_err(), "batch {b} delivered extra values");
            if b == 0 {
                rss_first_kib = vm_rss_kib();
            }
        }
        Outcome {
            tally,
            rss_first_kib,
            rss_end_kib: vm_rss_kib(),
        }
    })
}

/// The tests run one at a time: RSS is per process, and the other test's runtime would
/// count in this one's readings.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check(batches: u64, batch: u64) -> Outcome {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // No hog reports: the P holder spins without a scheduling point on purpose. Go's
    // policy: the holder trick needs the other P to steal the main goroutine (under
    // `work-sharing`, which never steals, main can land behind the spinning holder).
    let rt = gort::Runtime::builder()
        .procs(2)
        .policy(gort::policy::BuiltIn::Go)
        .hog_warning(false)
        .build()
        .unwrap();
    let out = spawn_batches(&rt, batches, batch);
    let n = batches * batch;
    let expected_sum = (0..n).fold(0u64, |s, i| s.wrapping_add(value(i)));
    let t = &out.tally;
    assert_eq!(t.by_chan, (n, expected_sum), "channel: (count, sum)");
    assert_eq!(t.by_join, (n, expected_sum), "handles: (count, sum)");
    let missing: u64 = t.pending.iter().map(|w| u64::from(w.count_ones())).sum();
    // Bits beyond `n` in the last word were never cleared.
    assert_eq!(
        missing,
        t.pending.len() as u64 * 64 - n,
        "undelivered values"
    );
    let m = rt.metrics();
    assert_eq!(
        m.total.spawned,
        n + batches + 1,
        "the main goroutine, the batches and their P holders"
    );
    out
}

#[test]
#[cfg_attr(debug_assertions, ignore = "long: run with --release")]
fn ten_million_goroutines_over_one_runtime_deliver_once_in_bounded_memory() {
    let out = check(100, 100_000);
    eprintln!(
        "RSS after the first batch: {} KiB, after 10,000,000 goroutines: {} KiB",
        out.rss_first_kib, out.rss_end_kib
    );
    assert!(
        out.rss_end_kib <= 2 * out.rss_first_kib,
        "RSS grew from {} KiB after the first batch to {} KiB after the last",
        out.rss_first_kib,
        out.rss_end_kib
    );
}

#[test]
fn batches_deliver_once_in_any_build() {
    check(20, 5_000);
}

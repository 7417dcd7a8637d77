//! Log-linear latency histograms: fixed memory, at most 1/64 (1.6 %) relative bucket
//! width, written by one P without locked instructions, merged on read.
//!
//! Values are cycle-counter ticks. A value `v` below 64 has its own bucket. Above,
//! `v`'s top bit at position `e` picks a group of 64 buckets and the next six bits pick
//! the bucket, so each bucket spans `2^(e-6)` values starting at a multiple of that: the
//! relative width is `1/64`, and the midpoint reported for it is within 0.8 % of any
//! value in it. Ticks convert to nanoseconds by one factor when a snapshot is read.
//! Values from 2^44 ticks (over an hour at a few GHz) up share the last bucket.
//!
//! ```text
//!   index:  0 .. 63 | 64 .. 127      | 128 .. 191     | ...
//!   values: 0 .. 63 | 64 .. 127 (×1) | 128 .. 254 (×2) | 256 .. 508 (×4) ...
//! ```
//!
//! What the runtime records (`schedule.rs`, `sched.rs`, `netpoll.rs`), on one runnable
//! transition in `Builder::latency_sampling` (default 64; Go samples its
//! `/sched/latencies` one in eight, but reading the cycle counter costs ~25 ns in VMs like
//! ours, and at 1 in 8 that was a fifth of a yield):
//!
//! - **scheduling latency**: from becoming runnable (spawn, wake, yield, I/O readiness) to
//!   running. This is gort's event-loop lag: where Node's `monitorEventLoopDelay` measures
//!   how late a timer callback runs on the single loop thread, this measures how long any
//!   runnable goroutine waits for a P, for every cause of waking;
//! - **run length**: from a switch into a goroutine to its next scheduling point;
//! - **park duration**: from a park to the wake that ends it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
const MAX_EXP: u32 = 44;
/// Buckets per histogram: 64 exact ones, then 64 per power of two up to 2^44.
const BUCKETS: usize = SUB + (MAX_EXP - SUB_BITS) as usize * SUB;

fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let v = v.min((1u64 << MAX_EXP) - 1);
    let e = 63 - v.leading_zeros(); // position of the top bit, ≥ SUB_BITS
    let shift = e - SUB_BITS;
    let sub = (v >> shift) as usize - SUB;
    SUB + shift as usize * SUB + sub
}

/// The smallest value of bucket `i` and its width.
fn bounds(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, 1);
    }
    let shift = ((i - SUB) / SUB) as u32;
    let sub = ((i - SUB) % SUB) as u64;
    ((SUB as u64 + sub) << shift, 1u64 << shift)
}

/// A histogram written by one thread at a time (the M holding the P it belongs to).
/// Values are cycle-counter ticks (`gort_asm::ticks` deltas): converting to nanoseconds is
/// a linear scale, applied when a snapshot is read, so recording costs no arithmetic
/// beyond the bucket index.
pub(crate) struct Recorder {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
    sum: AtomicU64,
}

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// Adds a value of `ticks`. Only the owner writes: loads and stores, no
    /// read-modify-write.
    #[inline]
    pub(crate) fn record(&self, ticks: u64) {
        let b = &self.buckets[index(ticks)];
        b.store(b.load(Relaxed) + 1, Relaxed);
        self.sum
            .store(self.sum.load(Relaxed).wrapping_add(ticks), Relaxed);
        if ticks > self.max.load(Relaxed) {
            self.max.store(ticks, Relaxed);
        }
    }

    /// Adds this recorder's counts to `into`.
    pub(crate) fn merge_into(&self, into: &mut Histogram) {
        if into.counts.is_empty() {
            into.counts = vec![0; BUCKETS];
            into.ns_per_tick = gort_asm::ticks_to_ns(1 << 30) as f64 / (1u64 << 30) as f64;
        }
        for (c, b) in into.counts.iter_mut().zip(self.buckets.iter()) {
            *c += b.load(Relaxed);
        }
        into.max = into.max.max(self.max.load(Relaxed));
        into.sum = into.sum.wrapping_add(self.sum.load(Relaxed));
    }
}

/// A merged snapshot of a latency histogram (≤ 1.6 % bucket width).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Counts per bucket of ticks.
    counts: Vec<u64>,
    max: u64,
    sum: u64,
    ns_per_tick: f64,
}

impl Histogram {
    /// An empty histogram of durations, for programs that time things themselves (the
    /// lab's request sojourn times) and want the runtime's buckets and quantiles.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            max: 0,
            sum: 0,
            ns_per_tick: 1.0, // recorded in nanoseconds
        }
    }

    /// Records one duration (a histogram made by [`new`](Self::new) or `default`; not a
    /// snapshot of the runtime's, whose unit is the cycle counter).
    pub fn record(&mut self, d: Duration) {
        if self.counts.is_empty() {
            *self = Histogram::new();
        }
        debug_assert_eq!(self.ns_per_tick, 1.0, "record into a runtime snapshot");
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        self.counts[index(ns)] += 1;
        self.sum = self.sum.wrapping_add(ns);
        self.max = self.max.max(ns);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick) as u64
    }

    /// The largest value recorded (exact).
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.ns(self.max))
    }

    /// The mean of the values recorded.
    pub fn mean(&self) -> Duration {
        match self.count() {
            0 => Duration::ZERO,
            n => Duration::from_nanos(self.ns(self.sum / n)),
        }
    }

    /// Sum of the values recorded.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.ns(self.sum))
    }

    /// The value below which a fraction `q` (0..=1) of the recorded values fall: the
    /// midpoint of the bucket holding that rank, capped by the exact maximum (which is
    /// also the answer for the top rank).
    pub fn quantile(&self, q: f64) -> Duration {
        let n = self.count();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        if rank >= n {
            return self.max(); // the top value is known exactly
        }
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bounds(i);
                return Duration::from_nanos(self.ns((low + width / 2).min(self.max)));
            }
        }
        self.max()
    }

    /// Values recorded that are at most `ns` (counting a bucket when its whole range is;
    /// bucket widths are ≤ 1.6 % of their values).
    pub fn count_at_most(&self, ns: u64) -> u64 {
        self.counts
            .iter()
            .enumerate()
            .take_while(|&(i, _)| {
                let (low, width) = bounds(i);
                self.ns(low + width - 1) <= ns
            })
            .map(|(_, &c)| c)
            .sum()
    }

    /// Bucket upper bounds (inclusive, in ns) with cumulative counts, for exporters;
    /// only buckets that hold values are listed.
    pub fn cumulative_buckets(&self) -> Vec<(u64, u64)> {
        let mut seen = 0;
        let mut out = Vec::new();
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 {
                seen += c;
                let (low, width) = bounds(i);
                out.push((self.ns(low + width - 1), seen));
            }
        }
        out
    }
}

/// The three histograms a P keeps.
pub(crate) struct PHistograms {
    pub(crate) sched_latency: Recorder,
    pub(crate) run_length: Recorder,
    pub(crate) park_duration: Recorder,
}

impl PHistograms {
    pub(crate) fn new() -> PHistograms {
        PHistograms {
            sched_latency: Recorder::new(),
            run_length: Recorder::new(),
            park_duration: Recorder::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it() {
        for v in (0..100_000u64).chain((0..2000).map(|i| 1u64 << (i % 44) | i)) {
            let (low, width) = bounds(index(v));
            assert!(low <= v && v < low + width, "{v}: [{low}, {})", low + width);
            assert!(width == 1 || width * 64 <= low, "bucket too wide at {v}");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_two_percent_of_exact() {
        let h = Recorder::new();
        // A skewed known input: 1..=100_000 ns squared-ish spread.
        let mut vals: Vec<u64> = (1..=20_000u64).map(|i| i * i / 7 + 100).collect();
        for &v in &vals {
            h.record(v);
        }
        vals.sort_unstable();
        let mut snap = Histogram::default();
        h.merge_into(&mut snap);
        snap.ns_per_tick = 1.0; // the test's values are nanoseconds
        assert_eq!(snap.count(), vals.len() as u64);
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = vals[((q * vals.len() as f64).ceil() as usize).max(1) - 1] as f64;
            let got = snap.quantile(q).as_nanos() as f64;
            assert!(
                (got - exact).abs() / exact <= 0.02,
                "q{q}: got {got}, exact {exact}"
            );
        }
        assert_eq!(snap.max().as_nanos() as u64, *vals.last().unwrap());
        assert_eq!(snap.quantile(1.0), snap.max());
    }

    #[test]
    fn merging_adds_counts() {
        let (a, b) = (Recorder::new(), Recorder::new());
        a.record(10);
        b.record(1_000_000);
        b.record(1_000_000);
        let mut s = Histogram::default();
        a.merge_into(&mut s);
        b.merge_into(&mut s);
        s.ns_per_tick = 1.0;
        assert_eq!(s.count(), 3);
        assert_eq!(s.max(), Duration::from_millis(1));
        let cum = s.cumulative_buckets();
        assert_eq!(cum.last().unwrap().1, 3);
        assert_eq!(cum[0], (10, 1));
    }
}

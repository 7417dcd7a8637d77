//! Inconsistencies found while replaying a trace: events that contradict the
//! scheduler's rules (a goroutine started twice at once, an unpark of a goroutine that
//! is not parked, ...). The tools tolerate them and count them, so a runtime bug shows
//! up in the summary instead of as a silently wrong picture.
//!
//! Things a trace begun mid-run legitimately lacks (the start of a run already going,
//! the creation of an old goroutine) are not anomalies.

use std::collections::BTreeMap;
use std::fmt;

/// One kind of inconsistency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anomaly {
    /// A second GoCreate for a goroutine, or one after other events of it.
    LateCreate,
    /// A GoStart on an M whose previous run never ended.
    StartOverOpenRun,
    /// A GoStart of a goroutine that was running on another M.
    StartWhileRunning,
    /// A GoStart of a goroutine parked with no unpark since.
    StartWhileParked,
    /// Any event of a goroutine after its GoDone.
    AfterDone,
    /// A run end (yield, park, ...) on an M that was not running that goroutine.
    EndWithoutStart,
    /// A GoUnpark of a goroutine that was running or already runnable.
    UnparkNotParked,
    /// A GoUnpark by goroutine `w` recorded where `w` was not running.
    WakerNotRunning,
    /// A run event (start, end) recorded off the Ms.
    RunOffM,
}

impl Anomaly {
    fn describe(self) -> &'static str {
        match self {
            Anomaly::LateCreate => "GoCreate of a goroutine already seen",
            Anomaly::StartOverOpenRun => "GoStart on an M whose previous run had not ended",
            Anomaly::StartWhileRunning => "GoStart of a goroutine running on another M",
            Anomaly::StartWhileParked => "GoStart of a parked goroutine that was not unparked",
            Anomaly::AfterDone => "event of a goroutine after its GoDone",
            Anomaly::EndWithoutStart => "run end on an M not running that goroutine",
            Anomaly::UnparkNotParked => "GoUnpark of a goroutine running or already runnable",
            Anomaly::WakerNotRunning => "GoUnpark by a goroutine not running on the recording M",
            Anomaly::RunOffM => "run event recorded off the Ms",
        }
    }
}

/// The first occurrence of an anomaly, to look it up in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Example {
    /// Event time (ns since the trace started).
    pub ts: u64,
    /// The goroutine concerned.
    pub g: u64,
    /// The M that recorded the event.
    pub m: Option<u32>,
}

/// Counts of each anomaly, with the first example of each.
#[derive(Clone, Debug, Default)]
pub struct Anomalies {
    seen: BTreeMap<Anomaly, (u64, Example)>,
}

impl Anomalies {
    /// Records one occurrence.
    pub fn note(&mut self, a: Anomaly, ex: Example) {
        self.seen.entry(a).or_insert((0, ex)).0 += 1;
    }

    /// How many times `a` occurred.
    pub fn count(&self, a: Anomaly) -> u64 {
        self.seen.get(&a).map_or(0, |s| s.0)
    }

    /// Occurrences of every kind.
    pub fn total(&self) -> u64 {
        self.seen.values().map(|s| s.0).sum()
    }

    /// Each kind that occurred, with its count and first example.
    pub fn iter(&self) -> impl Iterator<Item = (Anomaly, u64, Example)> + '_ {
        self.seen.iter().map(|(&a, &(n, ex))| (a, n, ex))
    }
}

impl fmt::Display for Anomalies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (a, n, ex) in self.iter() {
            let m = ex.m.map_or_else(|| "-".to_string(), |m| format!("M{m}"));
            writeln!(
                f,
                "  {n:>9} × {} (first: g{} at {:.6} ms on {m})",
                a.describe(),
                ex.g,
                ex.ts as f64 / 1e6,
            )?;
        }
        Ok(())
    }
}

//! `gort-trace summary`: what a trace says about the scheduler, as text.
//!
//! Per-P busy time, runs and steals; scheduling latency (runnable → running)
//! percentiles; the goroutines that ran and waited longest; the longest runs without a
//! scheduling point; totals; and the anomalies the replay met.

use std::fmt;

use gort::trace::{EventKind, Trace};

use crate::anomaly::Anomalies;
use crate::describe::{self, count, duration};
use crate::idmap::IdMap;
use crate::replay::{Replay, Run};
use crate::topn::TopN;

/// How many goroutines and runs each "top" list shows.
pub const TOP: usize = 10;

/// One P's share of the trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PStats {
    /// Time with a goroutine running (ns).
    pub busy_ns: u64,
    /// Runs (context switches onto this P).
    pub runs: u64,
    /// Steals this P made.
    pub steals: u64,
    /// Goroutines those steals took.
    pub stolen: u64,
}

/// Scheduling latency percentiles (ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Samples: runs whose becoming runnable is in the trace.
    pub samples: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// A goroutine in a top list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoroutineLine {
    /// Id.
    pub g: u64,
    /// Its name, or `g<id>`.
    pub label: String,
    /// Spawn site (`?` if not in the trace).
    pub spawn_site: String,
    /// Time running (ns).
    pub run_ns: u64,
    /// Time runnable (ns).
    pub runnable_ns: u64,
    /// Time parked (ns; up to the end of the trace for one still parked).
    pub parked_ns: u64,
    /// Runs.
    pub runs: u64,
}

/// One of the longest runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLine {
    /// The run.
    pub run: Run,
    /// Its goroutine's name, or `g<id>`.
    pub label: String,
    /// Spawn site.
    pub spawn_site: String,
    /// How it ended (with the wait site of a park).
    pub end: String,
}

/// Everything `summary` prints.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Events in the trace.
    pub events: u64,
    /// Time from the trace start to its last event (ns).
    pub span_ns: u64,
    /// File size.
    pub bytes: u64,
    /// `procs` of the traced runtime.
    pub procs: u32,
    /// Whether the file ends with the recorder's END block.
    pub complete: bool,
    /// Goroutines with any event.
    pub goroutines: u64,
    /// Goroutines created in the trace.
    pub created: u64,
    /// Runs in all.
    pub runs: u64,
    /// Per P, by P number.
    pub ps: Vec<(u32, PStats)>,
    /// Runs made without a P (back from `blocking`).
    pub runs_without_p: u64,
    /// Scheduling latency.
    pub latency: Latency,
    /// Goroutines that ran longest.
    pub top_run: Vec<GoroutineLine>,
    /// Goroutines that waited longest (parked + runnable).
    pub top_wait: Vec<GoroutineLine>,
    /// The longest runs.
    pub longest_runs: Vec<RunLine>,
    /// Inconsistencies found.
    pub anomalies: Anomalies,
}

/// The `q` quantile of sorted samples (nearest rank).
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    /// Replays `t` and sums it up.
    pub fn new(t: &Trace) -> Summary {
        let mut replay = Replay::new();
        let mut ps: IdMap<PStats> = IdMap::default();
        let mut latencies = Vec::new();
        let mut longest = TopN::new(TOP);
        let mut s = Summary {
            events: t.events.len() as u64,
            span_ns: t.events.last().map_or(0, |e| e.ts),
            bytes: t.bytes,
            procs: t.procs,
            complete: t.complete,
            ..Summary::default()
        };
        let mut on_run = |s: &mut Summary, ps: &mut IdMap<PStats>, run: Run| {
            s.runs += 1;
            match run.p {
                Some(p) => {
                    let st = ps.entry(p as u64);
                    st.busy_ns += run.duration();
                    st.runs += 1;
                }
                None => s.runs_without_p += 1,
            }
            if longest.wants(run.duration()) {
                longest.push(run.duration(), run);
            }
        };
        for e in &t.events {
            if let (EventKind::Steal { count, .. }, Some(p)) = (&e.kind, e.p) {
                let st = ps.entry(p as u64);
                st.steals += 1;
                st.stolen += *count as u64;
            }
            let step = replay.step(e);
            if let Some(run) = step.ended {
                on_run(&mut s, &mut ps, run);
            }
            if let Some(start) = step.started {
                if let Some(ready) = start.ready {
                    latencies.push(start.ts - ready.ts);
                }
            }
        }
        for run in replay.finish(s.span_ns) {
            on_run(&mut s, &mut ps, run);
        }
        // Every P of the runtime gets a line, busy or not.
        for p in 0..t.procs {
            ps.entry(p as u64);
        }
        s.ps = ps.iter().map(|(p, st)| (p as u32, st.clone())).collect();

        latencies.sort_unstable();
        s.latency = Latency {
            samples: latencies.len() as u64,
            p50: quantile(&latencies, 0.5),
            p99: quantile(&latencies, 0.99),
            p999: quantile(&latencies, 0.999),
            max: latencies.last().copied().unwrap_or(0),
        };

        let mut top_run = TopN::new(TOP);
        let mut top_wait = TopN::new(TOP);
        for (g, gs) in replay.goroutines() {
            s.goroutines += 1;
            s.created += gs.created as u64;
            top_run.push(gs.run_ns, g);
            top_wait.push(gs.runnable_ns + gs.parked_ns, g);
        }
        let line = |g: u64| {
            let gs = replay.goroutine(g).expect("listed");
            GoroutineLine {
                g,
                label: describe::goroutine(t, g),
                spawn_site: describe::site(t, gs.site),
                run_ns: gs.run_ns,
                runnable_ns: gs.runnable_ns,
                parked_ns: gs.parked_ns,
                runs: gs.runs,
            }
        };
        s.top_run = top_run
            .into_sorted()
            .into_iter()
            .map(|(_, g)| line(g))
            .collect();
        s.top_wait = top_wait
            .into_sorted()
            .into_iter()
            .map(|(_, g)| line(g))
            .collect();
        s.longest_runs = longest
            .into_sorted()
            .into_iter()
            .map(|(_, run)| RunLine {
                run,
                label: describe::goroutine(t, run.g),
                spawn_site: describe::site(t, replay.goroutine(run.g).and_then(|g| g.site)),
                end: describe::end(t, run.how),
            })
            .collect();
        s.anomalies = replay.anomalies.clone();
        s
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_event = if self.events == 0 {
            0.0
        } else {
            self.bytes as f64 / self.events as f64
        };
        writeln!(
            f,
            "trace: {} events over {}, {} bytes ({per_event:.1} bytes/event), procs {}",
            count(self.events),
            duration(self.span_ns),
            count(self.bytes),
            self.procs,
        )?;
        writeln!(
            f,
            "       {} goroutines ({} created in the trace), {} runs{}",
            count(self.goroutines),
            count(self.created),
            count(self.runs),
            if self.complete {
                ""
            } else {
                ", file cut short (no END block)"
            },
        )?;

        writeln!(f, "\nPs:")?;
        writeln!(
            f,
            "  {:<5} {:>7} {:>12} {:>10} {:>12}",
            "P", "busy", "runs", "steals", "stolen gs"
        )?;
        for (p, st) in &self.ps {
            writeln!(
                f,
                "  {:<5} {:>6.1}% {:>12} {:>10} {:>12}",
                format!("P{p}"),
                percent(st.busy_ns, self.span_ns),
                count(st.runs),
                count(st.steals),
                count(st.stolen),
            )?;
        }
        if self.runs_without_p > 0 {
            writeln!(f, "  runs without a P: {}", count(self.runs_without_p))?;
        }

        let l = &self.latency;
        writeln!(
            f,
            "\nscheduling latency (runnable → running, {} samples):",
            count(l.samples)
        )?;
        writeln!(
            f,
            "  p50 {}   p99 {}   p99.9 {}   max {}",
            duration(l.p50),
            duration(l.p99),
            duration(l.p999),
            duration(l.max)
        )?;

        writeln!(f, "\ngoroutines with the most run time:")?;
        writeln!(
            f,
            "  {:>10} {:>9}  {:<24} spawned at",
            "run", "runs", "goroutine"
        )?;
        for g in &self.top_run {
            writeln!(
                f,
                "  {:>10} {:>9}  {:<24} {}",
                duration(g.run_ns),
                count(g.runs),
                label(g.g, &g.label),
                g.spawn_site
            )?;
        }

        writeln!(
            f,
            "\ngoroutines with the most wait time (parked + runnable):"
        )?;
        writeln!(
            f,
            "  {:>10} {:>10} {:>10}  {:<24} spawned at",
            "wait", "parked", "runnable", "goroutine"
        )?;
        for g in &self.top_wait {
            writeln!(
                f,
                "  {:>10} {:>10} {:>10}  {:<24} {}",
                duration(g.parked_ns + g.runnable_ns),
                duration(g.parked_ns),
                duration(g.runnable_ns),
                label(g.g, &g.label),
                g.spawn_site
            )?;
        }

        writeln!(f, "\nlongest runs without a scheduling point:")?;
        writeln!(
            f,
            "  {:>10} {:<24} {:<9} {:>12}  spawned at / ended by",
            "run", "goroutine", "M/P", "at"
        )?;
        for r in &self.longest_runs {
            let mp = format!(
                "M{}/{}",
                r.run.m,
                r.run.p.map_or_else(|| "-".to_string(), |p| format!("P{p}"))
            );
            writeln!(
                f,
                "  {:>10} {:<24} {:<9} {:>12}  {}",
                duration(r.run.duration()),
                label(r.run.g, &r.label),
                mp,
                format!("{:.3} ms", r.run.start as f64 / 1e6),
                r.spawn_site,
            )?;
            writeln!(f, "  {:>10} {:<24} {:<9} {:>12}  {}", "", "", "", "", r.end)?;
        }

        if self.anomalies.total() == 0 {
            writeln!(f, "\nanomalies: none")
        } else {
            writeln!(f, "\nanomalies ({}):", count(self.anomalies.total()))?;
            write!(f, "{}", self.anomalies)
        }
    }
}

/// `g12` for an unnamed goroutine, `worker (g12)` for a named one.
fn label(g: u64, label: &str) -> String {
    if label == format!("g{g}") {
        label.to_string()
    } else {
        format!("{label} (g{g})")
    }
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile(&v, 0.5), 500);
        assert_eq!(quantile(&v, 0.99), 990);
        assert_eq!(quantile(&v, 0.999), 999);
        assert_eq!(quantile(&[7], 0.999), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}

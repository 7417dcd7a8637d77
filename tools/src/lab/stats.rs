//! Summaries of a cell (workload × config × procs × load): median, min, max, quartiles
//! over its runs, the ratio of its median to the baseline's, and median counters.

use super::configs;
use super::record::{Counters, RunRecord};
use super::workloads;

/// Quantile `q` of sorted values, linear between neighbours.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median of unsorted values.
pub fn median(vals: &[f64]) -> f64 {
    let mut v = vals.to_vec();
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

/// One cell's summary.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Workload name.
    pub workload: &'static str,
    /// Configuration name.
    pub config: &'static str,
    /// Ps.
    pub procs: usize,
    /// Offered load (server only).
    pub load: Option<f64>,
    /// Runs.
    pub runs: usize,
    /// Median of [`RunRecord::value`].
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// First quartile.
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
    /// `median / baseline median` for the same workload, procs and load.
    pub ratio: Option<f64>,
    /// Paired ratios: for each run, its value over the baseline's value in the run of
    /// the same index (the two ran next to each other in time, or under the same seed);
    /// their first quartile, median and third quartile. Slow drifts in machine load
    /// cancel out of these, which they do not out of `ratio`.
    pub paired: Option<[f64; 3]>,
    /// Median of each counter, in [`Counters::NAMES`] order.
    pub counters: [f64; 11],
    /// Server only: medians of p50, p99, p99.9 (µs) and achieved req/s.
    pub sojourn: Option<[f64; 4]>,
    /// `--sim` only: median virtual time and distinct schedules over the seeds.
    pub sim: Option<SimSummary>,
}

/// What a simulated cell adds (its median schedule steps are [`Summary::median`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimSummary {
    /// Median virtual time of the workload, ms.
    pub virtual_ms: f64,
    /// Distinct schedule hashes among the cell's runs (different seeds normally give
    /// different schedules; equal hashes mean equal schedules).
    pub schedules: usize,
}

/// The key that groups runs into a cell, and the baseline's key for it.
fn same_cell(a: &RunRecord, b: &RunRecord) -> bool {
    a.workload == b.workload
        && a.config == b.config
        && a.procs == b.procs
        && a.load().map(f64::to_bits) == b.load().map(f64::to_bits)
}

fn pos<T>(all: &[T], f: impl Fn(&T) -> bool) -> usize {
    all.iter().position(f).unwrap_or(usize::MAX)
}

/// Summarises records into cells, ordered by workload, procs, load, config.
pub fn summarize(records: &[RunRecord]) -> Vec<Summary> {
    let mut cells: Vec<Vec<&RunRecord>> = Vec::new();
    for r in records {
        match cells.iter_mut().find(|c| same_cell(c[0], r)) {
            Some(c) => c.push(r),
            None => cells.push(vec![r]),
        }
    }
    let mut out: Vec<Summary> = cells
        .iter()
        .map(|c| {
            let paired = paired_ratios(records, c);
            let vals: Vec<f64> = c.iter().map(|r| r.value()).collect();
            let mut sorted = vals.clone();
            sorted.sort_by(f64::total_cmp);
            let mut counters = [0.0; 11];
            for (i, slot) in counters.iter_mut().enumerate() {
                let col: Vec<f64> = c.iter().map(|r| r.counters.values()[i]).collect();
                *slot = median(&col);
            }
            let sojourn = c[0].sojourn.map(|_| {
                let m = |f: fn(&super::record::Sojourn) -> f64| {
                    median(
                        &c.iter()
                            .map(|r| f(r.sojourn.as_ref().unwrap()))
                            .collect::<Vec<_>>(),
                    )
                };
                [
                    m(|s| s.p50_us),
                    m(|s| s.p99_us),
                    m(|s| s.p999_us),
                    m(|s| s.achieved_rps),
                ]
            });
            let sim = c[0].sim.map(|_| {
                let sims: Vec<_> = c.iter().filter_map(|r| r.sim).collect();
                let mut hashes: Vec<u64> = sims.iter().map(|s| s.schedule_hash).collect();
                hashes.sort_unstable();
                hashes.dedup();
                SimSummary {
                    virtual_ms: median(
                        &sims
                            .iter()
                            .map(|s| s.virtual_time.as_secs_f64() * 1e3)
                            .collect::<Vec<_>>(),
                    ),
                    schedules: hashes.len(),
                }
            });
            Summary {
                workload: c[0].workload,
                config: c[0].config,
                procs: c[0].procs,
                load: c[0].load(),
                runs: c.len(),
                median: quantile(&sorted, 0.5),
                min: sorted[0],
                max: sorted[sorted.len() - 1],
                q1: quantile(&sorted, 0.25),
                q3: quantile(&sorted, 0.75),
                ratio: None,
                paired,
                counters,
                sojourn,
                sim,
            }
        })
        .collect();
    let base: Vec<(usize, f64)> = out
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let b = out.iter().find(|b| {
                b.config == configs::BASELINE
                    && b.workload == s.workload
                    && b.procs == s.procs
                    && b.load.map(f64::to_bits) == s.load.map(f64::to_bits)
            });
            (i, b.map_or(f64::NAN, |b| b.median))
        })
        .collect();
    for (i, b) in base {
        out[i].ratio = b.is_finite().then(|| out[i].median / b);
    }
    out.sort_by(|a, b| {
        let key = |s: &Summary| {
            (
                pos(workloads::ALL, |w| w.name == s.workload),
                s.procs,
                s.load.unwrap_or(0.0).to_bits(),
                pos(configs::ALL, |c| c.name == s.config),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// Quartiles of the runs' ratios to the baseline's run of the same index.
fn paired_ratios(records: &[RunRecord], cell: &[&RunRecord]) -> Option<[f64; 3]> {
    let mut v: Vec<f64> = cell
        .iter()
        .filter_map(|r| {
            let b = records.iter().find(|b| {
                b.config == configs::BASELINE
                    && b.run == r.run
                    && b.workload == r.workload
                    && b.procs == r.procs
                    && b.load().map(f64::to_bits) == r.load().map(f64::to_bits)
            })?;
            (b.value() > 0.0).then(|| r.value() / b.value())
        })
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some([quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75)])
}

/// The baseline's cell for `s` (same workload, procs and load), if it was run.
pub fn baseline<'a>(summary: &'a [Summary], s: &Summary) -> Option<&'a Summary> {
    summary.iter().find(|b| {
        b.config == configs::BASELINE
            && b.workload == s.workload
            && b.procs == s.procs
            && b.load.map(f64::to_bits) == s.load.map(f64::to_bits)
    })
}

/// Median counters of a cell as a [`Counters`]-named lookup.
pub fn counter(s: &Summary, name: &str) -> f64 {
    let i = Counters::NAMES
        .iter()
        .position(|n| *n == name)
        .expect("known counter");
    s.counters[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }
}

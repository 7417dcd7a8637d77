//! Runs the matrix: for each run index, every workload × procs × configuration, with the
//! configurations rotated by one position per run so no configuration always runs first
//! (after a cold start) or right after the same neighbour (thermal, page-cache and
//! allocator state carry over between runs in one process).

use std::time::{Duration, Instant};

use gort::Runtime;

use super::cli::Args;
use super::configs::LabConfig;
use super::openloop::{self, LevelSpec};
use super::record::{Counters, RunRecord};
use super::workloads::{Kind, Scale, Workload};

/// A fresh runtime for one run. Chaos is off explicitly so a `GORT_CHAOS` in the
/// environment cannot skew results; latency is sampled one transition in 8 (same for
/// every config) to fill the histograms without much overhead.
fn runtime(cfg: &LabConfig, procs: usize, open_loop: bool) -> Runtime {
    let b = Runtime::builder()
        .procs(procs)
        .chaos(None)
        .stack_size(64 * 1024)
        .latency_sampling(8)
        .hog_warning(false)
        // The open-loop dispatcher is a plain thread that gort cannot see.
        .deadlock_detection(!open_loop);
    cfg.apply(b)
        .build()
        .unwrap_or_else(|e| panic!("config {}: {e}", cfg.name))
}

/// The configurations in the order of run `run`: rotated left by `run`.
pub fn rotated<T: Copy>(items: &[T], run: usize) -> Vec<T> {
    let n = items.len();
    (0..n).map(|i| items[(i + run) % n]).collect()
}

fn steps(args: &Args) -> usize {
    let per_run: usize = args
        .workloads
        .iter()
        .map(|w| match w.kind {
            Kind::Closed { .. } => 1,
            Kind::OpenLoop => args.loads.len(),
        })
        .sum();
    per_run * args.procs.len() * args.configs.len() * args.runs
}

fn run_closed(w: &Workload, cfg: &LabConfig, procs: usize, scale: Scale) -> (Duration, Counters) {
    let Kind::Closed { run, expect } = w.kind else {
        unreachable!("closed workload")
    };
    let rt = runtime(cfg, procs, false);
    let t = Instant::now();
    let got = rt.block_on(move || run(scale));
    let wall = t.elapsed();
    assert_eq!(
        got,
        expect(scale),
        "{} under {} gave a wrong checksum",
        w.name,
        cfg.name
    );
    (wall, Counters::from_metrics(&rt.metrics()))
}

/// Runs every cell `args.runs` times and returns one record per run (per load level
/// for the server). Prints a progress line per run on stderr.
pub fn run_matrix(args: &Args) -> Vec<RunRecord> {
    let scale = if args.quick {
        Scale::Quick
    } else {
        Scale::Full
    };
    let total = steps(args);
    let started = Instant::now();
    let mut done = 0;
    let mut out = Vec::with_capacity(total);
    for run in 0..args.runs {
        for w in &args.workloads {
            for &procs in &args.procs {
                for cfg in rotated(&args.configs, run) {
                    let loads: Vec<Option<f64>> = match w.kind {
                        Kind::Closed { .. } => vec![None],
                        Kind::OpenLoop => args.loads.iter().map(|&l| Some(l)).collect(),
                    };
                    for load in loads {
                        let rec = match load {
                            None => {
                                let (wall, counters) = run_closed(w, cfg, procs, scale);
                                RunRecord {
                                    workload: w.name,
                                    config: cfg.name,
                                    procs,
                                    run,
                                    wall,
                                    sojourn: None,
                                    counters,
                                }
                            }
                            Some(load) => {
                                let rt = runtime(cfg, procs, true);
                                let spec = LevelSpec {
                                    load,
                                    procs,
                                    service: args.service,
                                    mean: args.service_mean,
                                    duration: args.level,
                                    max_requests: 200_000,
                                    // Same arrivals for every config in a run: paired.
                                    seed: 0x5EED ^ ((run as u64) << 32) ^ load.to_bits(),
                                };
                                let t = Instant::now();
                                let s = openloop::run_level(&rt, &spec);
                                RunRecord {
                                    workload: w.name,
                                    config: cfg.name,
                                    procs,
                                    run,
                                    wall: t.elapsed(),
                                    sojourn: Some(s),
                                    counters: Counters::from_metrics(&rt.metrics()),
                                }
                            }
                        };
                        done += 1;
                        let what = match &rec.sojourn {
                            Some(s) => format!(
                                "load {:.2}: p99 {:.0} µs ({} req)",
                                s.load, s.p99_us, s.requests
                            ),
                            None => format!("{:.1} ms", rec.value()),
                        };
                        eprintln!(
                            "[{done}/{total} {:.1}s] {} {} procs={} run {}/{}: {what}",
                            started.elapsed().as_secs_f64(),
                            w.name,
                            cfg.name,
                            procs,
                            run + 1,
                            args.runs
                        );
                        out.push(rec);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_moves_each_item_forward() {
        assert_eq!(rotated(&[1, 2, 3], 0), [1, 2, 3]);
        assert_eq!(rotated(&[1, 2, 3], 1), [2, 3, 1]);
        assert_eq!(rotated(&[1, 2, 3], 4), [2, 3, 1]);
    }
}

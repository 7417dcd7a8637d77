//! Runs the matrix: for each run index, every workload × procs × configuration, with the
//! configurations in a new order each run (run 0 as given, then a seeded shuffle), so
//! that no configuration always runs first (after a cold start) or right after the same
//! neighbour (thermal, page-cache, allocator and thread state carry over between runs in
//! one process). A rotation would not do: it keeps every configuration's neighbours.
//!
//! Under `--sim` ([`run_sim_matrix`]) every closed workload runs in gort's deterministic
//! simulation instead: run `i` uses seed `--seed + i`, nothing is timed, and a run's
//! numbers depend only on (workload, configuration, procs, seed).

use std::time::{Duration, Instant};

use gort::{Builder, Runtime};

use super::cli::Args;
use super::configs::LabConfig;
use super::openloop::{self, LevelSpec};
use super::record::{Counters, RunRecord, SimRun};
use super::workloads::{Kind, Scale, Workload};

/// The settings of every run. Chaos is off explicitly so a `GORT_CHAOS` in the
/// environment cannot skew results; latency is sampled one transition in 8 (same for
/// every config) to fill the histograms without much overhead.
fn builder(cfg: &LabConfig, procs: usize, open_loop: bool) -> Builder {
    let b = Runtime::builder()
        .procs(procs)
        .chaos(None)
        .stack_size(64 * 1024)
        .latency_sampling(8)
        .hog_warning(false)
        // The open-loop dispatcher is a plain thread that gort cannot see.
        .deadlock_detection(!open_loop);
    cfg.apply(b)
}

/// A fresh runtime for one run.
fn runtime(cfg: &LabConfig, procs: usize, open_loop: bool) -> Runtime {
    builder(cfg, procs, open_loop)
        .build()
        .unwrap_or_else(|e| panic!("config {}: {e}", cfg.name))
}

/// The configurations in the order of run `run`: as given for run 0, else shuffled
/// (Fisher–Yates) by a generator seeded with the run index, so the order is the same
/// every time the lab runs.
pub fn run_order<T: Copy>(items: &[T], run: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if run > 0 {
        let mut rng = super::rng::Rng::new(0x0DE5_0000 + run as u64);
        for i in (1..v.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
    v
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
    let scale = scale(args);
    let total = steps(args);
    let started = Instant::now();
    let mut done = 0;
    let mut out = Vec::with_capacity(total);
    for run in 0..args.runs {
        for w in &args.workloads {
            for &procs in &args.procs {
                for cfg in run_order(&args.configs, run) {
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
                                    sim: None,
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
                                    sim: None,
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

fn scale(args: &Args) -> Scale {
    if args.quick {
        Scale::Quick
    } else {
        Scale::Full
    }
}

/// One simulated run of a closed workload. The workload runs as the main goroutine and
/// reads the virtual clock and the counters itself at its end (the simulated runtime is
/// gone when `try_run_with` returns).
pub fn run_sim(
    w: &Workload,
    cfg: &LabConfig,
    procs: usize,
    scale: Scale,
    seed: u64,
) -> Result<RunRecord, String> {
    let Kind::Closed { run, expect } = w.kind else {
        return Err(format!("{} cannot run in simulation", w.name));
    };
    let rerun =
        || {
            format!(
            "rerun: gort-lab --sim{} --workloads {} --configs {} --procs {procs} --seed {seed} \
             --runs 1 --out DIR",
            if scale == Scale::Quick { " --quick" } else { "" },
            w.name,
            cfg.name
        )
        };
    let b = builder(cfg, procs, false);
    let done = gort::sim::try_run_with(b, seed, move || {
        let start = gort::time::now();
        let value = run(scale);
        let elapsed = gort::time::now().saturating_duration_since(start);
        (value, elapsed, gort::metrics())
    })
    .map_err(|e| {
        format!(
            "{} under {} (procs {procs}) failed in simulation, seed {seed}: {}\n{}",
            w.name,
            cfg.name,
            e.message,
            rerun()
        )
    })?;
    let (value, virtual_time, metrics) = done.value;
    if value != expect(scale) {
        return Err(format!(
            "{} under {} (procs {procs}, seed {seed}) gave a wrong checksum\n{}",
            w.name,
            cfg.name,
            rerun()
        ));
    }
    Ok(RunRecord {
        workload: w.name,
        config: cfg.name,
        procs,
        run: 0,
        wall: Duration::ZERO,
        sojourn: None,
        counters: Counters::from_metrics(&metrics),
        sim: Some(SimRun {
            seed,
            steps: done.steps,
            schedule_hash: done.schedule_hash,
            virtual_time,
        }),
    })
}

/// Runs every simulable cell under `args.runs` seeds and returns one record per run,
/// or the first failure (a deadlock, a panic, a wrong checksum) with the command that
/// replays it. Prints a progress line per run on stderr.
pub fn run_sim_matrix(args: &Args) -> Result<Vec<RunRecord>, String> {
    let scale = scale(args);
    let ws: Vec<&Workload> = args
        .workloads
        .iter()
        .copied()
        .filter(|w| w.simulable())
        .collect();
    for w in args.workloads.iter().filter(|w| !w.simulable()) {
        eprintln!(
            "gort-lab: --sim skips {}: it needs a plain OS thread and the wall clock",
            w.name
        );
    }
    for c in &args.sim_skipped {
        eprintln!(
            "gort-lab: --sim skips {}: time slices are real time, absent from simulation",
            c.name
        );
    }
    let total = ws.len() * args.procs.len() * args.configs.len() * args.runs;
    let started = Instant::now();
    let mut out = Vec::with_capacity(total);
    for run in 0..args.runs {
        let seed = args.seed.wrapping_add(run as u64);
        for w in &ws {
            for &procs in &args.procs {
                for cfg in &args.configs {
                    let mut rec = run_sim(w, cfg, procs, scale, seed)?;
                    rec.run = run;
                    let c = &rec.counters;
                    eprintln!(
                        "[{}/{total} {:.1}s] {} {} procs={} seed {seed}: {} steps, {} steals, \
                         {} global pulls",
                        out.len() + 1,
                        started.elapsed().as_secs_f64(),
                        w.name,
                        cfg.name,
                        procs,
                        rec.sim.map_or(0, |s| s.steps),
                        c.steals,
                        c.global_pulls,
                    );
                    out.push(rec);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--sim` skips `slice-100us` because a time slice never expires in simulation: the
    /// knob would run as `go`. If the runtime ever gives simulation a slice (on virtual
    /// time), this fails, and the knob should become simulable.
    #[test]
    fn a_time_slice_changes_no_simulated_schedule() {
        let spawn = super::super::workloads::by_name("spawn").unwrap();
        let cfg = |name| super::super::configs::by_name(name).unwrap()[0];
        let (slice, go) = (cfg("slice-100us"), cfg("go"));
        assert!(!slice.simulable);
        let hash = |c| {
            let rec = run_sim(spawn, c, 2, Scale::Quick, 3).unwrap();
            (rec.sim.unwrap().schedule_hash, rec.counters.runnext_runs)
        };
        let (a, b) = (hash(go), hash(slice));
        assert_eq!(a, b);
        assert!(a.1 > 0, "spawn makes runnext runs in simulation");
    }

    #[test]
    fn run_orders_are_permutations_that_vary() {
        let items: Vec<u32> = (0..8).collect();
        assert_eq!(run_order(&items, 0), items);
        let orders: Vec<Vec<u32>> = (0..8).map(|r| run_order(&items, r)).collect();
        for o in &orders {
            let mut s = o.clone();
            s.sort_unstable();
            assert_eq!(s, items);
        }
        assert_eq!(run_order(&items, 3), orders[3], "deterministic");
        // Item 0's predecessor is not always the same one.
        let before = |o: &Vec<u32>| o.iter().position(|&x| x == 0).map(|i| o[(i + 7) % 8]);
        assert!(
            orders
                .iter()
                .map(before)
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 2
        );
    }
}

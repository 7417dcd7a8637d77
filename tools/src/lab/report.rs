//! `results.md`, `results.csv` (a row per run) and `summary.csv` (a row per cell).

use std::fmt::Write;

use super::cli::Args;
use super::configs;
use super::openloop::slo_crossing;
use super::record::{Counters, RunRecord};
use super::stats::{baseline, counter, Summary};
use super::workloads;

/// A number with about three significant digits.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_default()
}

/// One row per run, every counter; ratio to the baseline's median of the same cell.
pub fn runs_csv(records: &[RunRecord], summary: &[Summary]) -> String {
    if records.iter().any(|r| r.sim.is_some()) {
        return sim_runs_csv(records, summary);
    }
    let mut s = String::from(
        "workload,config,procs,run,load,wall_ms,value,ratio_to_go_median,requests,\
         achieved_rps,sojourn_p50_us,sojourn_p99_us,sojourn_p999_us,dispatch_lag_p99_us",
    );
    for n in Counters::NAMES {
        write!(s, ",{n}").unwrap();
    }
    s.push('\n');
    for r in records {
        let base = summary.iter().find(|b| {
            b.config == configs::BASELINE
                && b.workload == r.workload
                && b.procs == r.procs
                && b.load.map(f64::to_bits) == r.load().map(f64::to_bits)
        });
        let so = r.sojourn.as_ref();
        write!(
            s,
            "{},{},{},{},{},{:.3},{:.3},{},{},{},{},{},{},{}",
            r.workload,
            r.config,
            r.procs,
            r.run,
            opt(r.load(), |l| format!("{l}")),
            r.wall.as_secs_f64() * 1e3,
            r.value(),
            opt(base.map(|b| r.value() / b.median), |x| format!("{x:.4}")),
            opt(so.map(|s| s.requests as f64), |x| format!("{x}")),
            opt(so.map(|s| s.achieved_rps), |x| format!("{x:.0}")),
            opt(so.map(|s| s.p50_us), |x| format!("{x:.2}")),
            opt(so.map(|s| s.p99_us), |x| format!("{x:.2}")),
            opt(so.map(|s| s.p999_us), |x| format!("{x:.2}")),
            opt(so.map(|s| s.dispatch_lag_p99_us), |x| format!("{x:.2}")),
        )
        .unwrap();
        for v in r.counters.values() {
            write!(s, ",{}", trim(v)).unwrap();
        }
        s.push('\n');
    }
    s
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// One row per cell: median, spread, ratio and median counters.
pub fn summary_csv(summary: &[Summary]) -> String {
    if summary.iter().any(|c| c.sim.is_some()) {
        return sim_summary_csv(summary);
    }
    let mut s = String::from(
        "workload,config,procs,load,runs,median,min,max,q1,q3,ratio_to_go,\
         paired_ratio,paired_ratio_q1,paired_ratio_q3,sojourn_p50_us,sojourn_p99_us,sojourn_p999_us,achieved_rps",
    );
    for n in Counters::NAMES {
        write!(s, ",{n}").unwrap();
    }
    s.push('\n');
    for c in summary {
        write!(
            s,
            "{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{}",
            c.workload,
            c.config,
            c.procs,
            opt(c.load, |l| format!("{l}")),
            c.runs,
            c.median,
            c.min,
            c.max,
            c.q1,
            c.q3,
            opt(c.ratio, |r| format!("{r:.2}")),
        )
        .unwrap();
        for i in [1, 0, 2] {
            write!(s, ",{}", opt(c.paired.map(|p| p[i]), |x| format!("{x:.3}"))).unwrap();
        }
        for i in 0..4 {
            write!(
                s,
                ",{}",
                opt(c.sojourn.map(|x| x[i]), |x| format!("{x:.2}"))
            )
            .unwrap();
        }
        for v in c.counters {
            write!(s, ",{}", trim(v)).unwrap();
        }
        s.push('\n');
    }
    s
}

/// `1.42 (1.39–1.57)`: the median paired ratio and its interquartile range.
fn paired(c: &Summary) -> String {
    match c.paired {
        Some([q1, m, q3]) => {
            let (q1, m, q3) = (format!("{q1:.2}"), format!("{m:.2}"), format!("{q3:.2}"));
            if q1 == m && m == q3 {
                m
            } else {
                format!("{m} ({q1}–{q3})")
            }
        }
        None => String::new(),
    }
}

fn closed_table(s: &mut String, cells: &[&Summary]) {
    s.push_str(
        "| config | procs | median ms | spread (min–max) | IQR | ratio to go | paired ratio (IQR) | switches | steals | stolen | spins | global pulls | runnext runs | sched lat p99 µs |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in cells {
        writeln!(
            s,
            "| {} | {} | {} | {}–{} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
            c.config,
            c.procs,
            num(c.median),
            num(c.min),
            num(c.max),
            num(c.q3 - c.q1),
            opt(c.ratio, |r| format!("{r:.2}")),
            paired(c),
            counter(c, "switches"),
            counter(c, "steals"),
            counter(c, "stolen"),
            counter(c, "spins"),
            counter(c, "global_pulls"),
            counter(c, "runnext_runs"),
            num(counter(c, "sched_p99_us")),
        )
        .unwrap();
    }
}

fn server_table(s: &mut String, cells: &[&Summary]) {
    s.push_str(
        "| config | procs | load | p50 µs | p99 µs (min–max) | p99.9 µs | p99 ratio to go | paired p99 ratio (IQR) | req/s | steals | spins | global pulls | sched lat p99 µs |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in cells {
        let so = c.sojourn.unwrap_or([f64::NAN; 4]);
        writeln!(
            s,
            "| {} | {} | {:.2} | {} | {} ({}–{}) | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
            c.config,
            c.procs,
            c.load.unwrap_or(f64::NAN),
            num(so[0]),
            num(c.median),
            num(c.min),
            num(c.max),
            num(so[2]),
            opt(c.ratio, |r| format!("{r:.2}")),
            paired(c),
            so[3],
            counter(c, "steals"),
            counter(c, "spins"),
            counter(c, "global_pulls"),
            num(counter(c, "sched_p99_us")),
        )
        .unwrap();
    }
}

/// `(config, procs, crossing load)` for every server config × procs, in table order.
pub fn slo_crossings(args: &Args, summary: &[Summary]) -> Vec<(&'static str, usize, Option<f64>)> {
    let mut out = Vec::new();
    for &procs in &args.procs {
        for c in &args.configs {
            let pts: Vec<(f64, f64)> = summary
                .iter()
                .filter(|s| s.workload == "server" && s.config == c.name && s.procs == procs)
                .map(|s| (s.load.unwrap_or(0.0), s.median))
                .collect();
            if !pts.is_empty() {
                out.push((c.name, procs, slo_crossing(&pts, args.slo_us)));
            }
        }
    }
    out
}

/// The counters a simulated run reports: scheduling decisions, deterministic for a
/// seed (the latency percentiles are cycle-counter readings, so they are left out).
pub const SIM_COUNTERS: [&str; 8] = [
    "switches",
    "steals",
    "stolen",
    "global_pulls",
    "runnext_runs",
    "spins",
    "overflows",
    "parks",
];

fn ratio(v: f64, base: Option<f64>) -> Option<f64> {
    base.filter(|&b| b > 0.0).map(|b| v / b)
}

/// `--sim`: one row per run; no wall time, so equal seeds give equal files.
fn sim_runs_csv(records: &[RunRecord], summary: &[Summary]) -> String {
    let mut s = String::from(
        "workload,config,procs,run,seed,steps,schedule_hash,virtual_ms,steps_ratio_to_go_median",
    );
    for n in SIM_COUNTERS {
        write!(s, ",{n}").unwrap();
    }
    s.push('\n');
    for r in records {
        let Some(sim) = r.sim else { continue };
        let base = summary.iter().find(|b| {
            b.config == configs::BASELINE && b.workload == r.workload && b.procs == r.procs
        });
        write!(
            s,
            "{},{},{},{},{},{},{:016x},{:.3},{}",
            r.workload,
            r.config,
            r.procs,
            r.run,
            sim.seed,
            sim.steps,
            sim.schedule_hash,
            sim.virtual_time.as_secs_f64() * 1e3,
            opt(
                ratio(sim.steps as f64, base.map(|b| b.median)),
                |x| format!("{x:.4}")
            ),
        )
        .unwrap();
        let vals = r.counters.values();
        for n in SIM_COUNTERS {
            let i = Counters::NAMES.iter().position(|x| *x == n).unwrap();
            write!(s, ",{}", trim(vals[i])).unwrap();
        }
        s.push('\n');
    }
    s
}

/// `--sim`: one row per cell, each counter's median and its ratio to `go`'s.
fn sim_summary_csv(summary: &[Summary]) -> String {
    let mut s = String::from(
        "workload,config,procs,runs,steps_median,steps_min,steps_max,steps_ratio_to_go,\
         steps_paired_ratio,virtual_ms,schedules",
    );
    for n in SIM_COUNTERS {
        write!(s, ",{n},{n}_ratio_to_go").unwrap();
    }
    s.push('\n');
    for c in summary {
        let Some(sim) = c.sim else { continue };
        let base = baseline(summary, c);
        write!(
            s,
            "{},{},{},{},{},{},{},{},{},{:.3},{}",
            c.workload,
            c.config,
            c.procs,
            c.runs,
            trim(c.median),
            trim(c.min),
            trim(c.max),
            opt(c.ratio, |r| format!("{r:.3}")),
            opt(c.paired.map(|p| p[1]), |r| format!("{r:.3}")),
            sim.virtual_ms,
            sim.schedules,
        )
        .unwrap();
        for n in SIM_COUNTERS {
            let v = counter(c, n);
            let r = ratio(v, base.map(|b| counter(b, n)));
            write!(s, ",{},{}", trim(v), opt(r, |x| format!("{x:.3}"))).unwrap();
        }
        s.push('\n');
    }
    s
}

/// A median count with its ratio to the baseline's: `40012 (1.00)`; `(–)` when the
/// baseline's is zero.
fn with_ratio(v: f64, base: Option<f64>) -> String {
    let r = match base {
        Some(b) if b > 0.0 => format!("{:.2}", v / b),
        Some(_) => "–".into(),
        None => String::new(),
    };
    if r.is_empty() {
        format!("{v:.0}")
    } else {
        format!("{v:.0} ({r})")
    }
}

fn sim_table(s: &mut String, summary: &[Summary], cells: &[&Summary]) {
    s.push_str(
        "| config | procs | steps = switches | steps min–max | steals | stolen | global pulls | runnext runs | spins | overflows | virtual ms | schedules |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in cells {
        let base = baseline(summary, c);
        let b = |n: &str| base.map(|b| counter(b, n));
        let sim = c.sim.expect("a simulated cell");
        write!(
            s,
            "| {} | {} | {} | {:.0}–{:.0} |",
            c.config,
            c.procs,
            with_ratio(c.median, base.map(|b| b.median)),
            c.min,
            c.max
        )
        .unwrap();
        for n in [
            "steals",
            "stolen",
            "global_pulls",
            "runnext_runs",
            "spins",
            "overflows",
        ] {
            write!(s, " {} |", with_ratio(counter(c, n), b(n))).unwrap();
        }
        writeln!(
            s,
            " {} | {}/{} |",
            num(sim.virtual_ms),
            sim.schedules,
            c.runs
        )
        .unwrap();
    }
}

/// The overview: each configuration's paired ratio to `go` (median and interquartile
/// range over the runs), a row per closed workload and procs (wall time, or schedule
/// steps under `--sim`), after `go`'s median.
fn overview(s: &mut String, args: &Args, summary: &[Summary], unit: &str) {
    let closed: Vec<_> = args
        .workloads
        .iter()
        .filter(|w| matches!(w.kind, workloads::Kind::Closed { .. }))
        .collect();
    if closed.is_empty() {
        return;
    }
    write!(s, "| workload | procs | {} ({unit}) |", configs::BASELINE).unwrap();
    for c in args.configs.iter().skip(1) {
        write!(s, " {} |", c.name).unwrap();
    }
    s.push_str("\n|---|---:|---:|");
    for _ in 1..args.configs.len() {
        s.push_str("---:|");
    }
    s.push('\n');
    for w in closed {
        for &procs in &args.procs {
            let cell = |cfg: &str| {
                summary
                    .iter()
                    .find(|c| c.workload == w.name && c.procs == procs && c.config == cfg)
            };
            let Some(base) = cell(configs::BASELINE) else {
                continue;
            };
            write!(s, "| {} | {} | {} |", w.name, procs, num(base.median)).unwrap();
            for c in args.configs.iter().skip(1) {
                write!(s, " {} |", cell(c.name).map(paired).unwrap_or_default()).unwrap();
            }
            s.push('\n');
        }
    }
}

fn configs_list(s: &mut String, args: &Args) {
    s.push_str("Configurations:\n\n");
    for c in &args.configs {
        writeln!(s, "- `{}` ({}): {}", c.name, c.kind.name(), c.about).unwrap();
    }
}

/// The Markdown report of a `--sim` run.
fn sim_markdown(args: &Args, summary: &[Summary]) -> String {
    let mut s = String::from("# gort-lab results (deterministic simulation)\n\n");
    let last = args.seed.wrapping_add(args.runs as u64 - 1);
    writeln!(
        s,
        "Every closed workload{} ran in gort's deterministic simulation (`gort::sim`) under \
         seeds {}..={} (one run per seed), procs {:?}. Nothing here is timed: the numbers are \
         the scheduler's decisions, identical for identical seeds. Each cell is the median \
         over the seeds, with its ratio to `go`'s median in parentheses (`–`: `go`'s is 0); \
         steps = goroutine runs in the schedule; virtual ms = virtual time from the \
         workload's start to its end (it moves only when every goroutine sleeps); \
         schedules = distinct schedule hashes among the seeds. In simulation every step \
         is one switch into a goroutine, so steps = switches.\n",
        if args.quick {
            " (--quick: small sizes)"
        } else {
            ""
        },
        args.seed,
        last,
        args.procs,
    )
    .unwrap();
    let skipped: Vec<&str> = args
        .workloads
        .iter()
        .filter(|w| !w.simulable())
        .map(|w| w.name)
        .collect();
    for c in &args.sim_skipped {
        writeln!(
            s,
            "Skipped: configuration `{}` (time slices are real time, absent from \
             simulation).\n",
            c.name
        )
        .unwrap();
    }
    if !skipped.is_empty() {
        writeln!(
            s,
            "Skipped: {} (its dispatcher is a plain OS thread and its requests spin on the \
             wall clock; virtual time does not move while goroutines compute, so it cannot \
             be simulated).\n",
            skipped.join(", ")
        )
        .unwrap();
    }
    configs_list(&mut s, args);
    s.push_str(
        "\n## Overview: schedule steps, paired ratio to go\n\n\
         `go`'s median steps, then for every other configuration the median (and \
         interquartile range) over the seeds of its steps / `go`'s steps under the same seed.\n\n",
    );
    overview(&mut s, args, summary, "steps");
    for w in args.workloads.iter().filter(|w| w.simulable()) {
        let cells: Vec<&Summary> = summary.iter().filter(|c| c.workload == w.name).collect();
        if cells.is_empty() {
            continue;
        }
        writeln!(s, "\n## {}\n\n{}.\n", w.name, w.about).unwrap();
        sim_table(&mut s, summary, &cells);
    }
    s.push_str("\nPlot: [sim_counters.svg](sim_counters.svg).\n");
    s
}

/// The Markdown report.
pub fn markdown(args: &Args, summary: &[Summary]) -> String {
    if args.sim {
        return sim_markdown(args, summary);
    }
    let mut s = String::from("# gort-lab results\n\n");
    writeln!(
        s,
        "{} runs per cell{}, procs {:?}, configs in a shuffled order each run, a fresh runtime per run. \
         Median of the runs; spread = min–max and interquartile range; ratio = median / `go`'s median \
         (lower is better). Counters are per-run medians (totals over all Ps); sched lat = \
         runnable → running, sampled 1 in 8.\n",
        args.runs,
        if args.quick { " (--quick: small workloads)" } else { "" },
        args.procs,
    )
    .unwrap();
    configs_list(&mut s, args);
    s.push_str(
        "\n## Overview: wall time, paired ratio to go\n\n\
         `go`'s median time, then for every other configuration the median (and \
         interquartile range) over the runs of its time / `go`'s time in the same run \
         (the two ran close together, so slow drifts in machine load cancel). Lower is \
         better; an interval that contains 1.00 is no evidence of a difference.\n\n",
    );
    overview(&mut s, args, summary, "ms");
    for w in &args.workloads {
        let cells: Vec<&Summary> = summary.iter().filter(|c| c.workload == w.name).collect();
        if cells.is_empty() {
            continue;
        }
        writeln!(s, "\n## {}\n\n{}.\n", w.name, w.about).unwrap();
        match w.kind {
            workloads::Kind::Closed { .. } => {
                writeln!(s, "Wall time. Plot: [{0}.svg]({0}.svg).\n", w.name).unwrap();
                closed_table(&mut s, &cells);
            }
            workloads::Kind::OpenLoop => {
                writeln!(
                    s,
                    "Service time {} with mean {} µs; offered load = arrival rate × mean / procs; \
                     sojourn = completion − scheduled arrival. Plot: [latency_load.svg](latency_load.svg).\n",
                    args.service.name(),
                    args.service_mean.as_micros()
                )
                .unwrap();
                server_table(&mut s, &cells);
                writeln!(
                    s,
                    "\n### Load at which p99 crosses the SLO ({} µs)\n\n\
                     Linear interpolation between the measured loads of the median p99.\n\n\
                     | config | procs | load at SLO |\n|---|---:|---:|",
                    args.slo_us
                )
                .unwrap();
                let top = args.loads.last().copied().unwrap_or(f64::NAN);
                for (cfg, procs, x) in slo_crossings(args, summary) {
                    let v = x.map_or(format!("> {top:.2}"), |l| format!("{l:.2}"));
                    writeln!(s, "| {cfg} | {procs} | {v} |").unwrap();
                }
            }
        }
    }
    s
}

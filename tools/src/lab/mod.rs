//! `gort-lab`: runs a matrix of workloads × configurations × procs, several runs each, and
//! writes a Markdown table, CSVs and SVG plots into an output folder.
//!
//! A *configuration* is, for now, a named set of `Builder` knobs ([`configs`]); the
//! `Policy` trait of DESIGN §12 will plug into the same matrix later. Every number the lab
//! reports comes from wall time or from [`gort::Metrics`] (§12: no separate
//! instrumentation), except the open-loop server's sojourn times, which the workload
//! itself measures ([`openloop`]).
//!
//! Flow: [`cli`] parses the command line, [`matrix`] runs every cell (a fresh runtime per
//! run, configs in a rotated order each run), [`stats`] summarises, [`report`] writes
//! `results.md` / `results.csv` / `summary.csv`, and [`plots`] the SVGs.

pub mod cli;
pub mod configs;
pub mod matrix;
pub mod openloop;
pub mod plots;
pub mod record;
pub mod report;
pub mod rng;
pub mod stats;
pub mod workloads;

use std::path::Path;

/// Runs the lab as the command line asks and writes its files into `args.out`.
pub fn run(args: &cli::Args) -> std::io::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let records = matrix::run_matrix(args);
    let summary = stats::summarize(&records);
    write_outputs(args, &records, &summary, &args.out)
}

fn write_outputs(
    args: &cli::Args,
    records: &[record::RunRecord],
    summary: &[stats::Summary],
    out: &Path,
) -> std::io::Result<()> {
    std::fs::write(out.join("results.csv"), report::runs_csv(records, summary))?;
    std::fs::write(out.join("summary.csv"), report::summary_csv(summary))?;
    std::fs::write(out.join("results.md"), report::markdown(args, summary))?;
    plots::write_all(args, summary, out).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}

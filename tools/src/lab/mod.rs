//! `gort-lab`: runs a matrix of workloads × configurations × procs, several runs each, and
//! writes a Markdown table, CSVs and SVG plots into an output folder.
//!
//! A *configuration* ([`configs`]) is a scheduling policy (`gort::policy`: the seven
//! built-ins, or [`outside::WakeBalance`], written here against the public trait) or Go's
//! policy with one `Builder` knob changed. Every number the lab reports comes from wall
//! time, virtual time or [`gort::Metrics`] (§12: no separate instrumentation), except the
//! open-loop server's sojourn times, which the workload itself measures ([`openloop`]).
//!
//! Flow: [`cli`] parses the command line, [`matrix`] runs every cell (a fresh runtime per
//! run, configs in a shuffled order each run; under `--sim`, one deterministic simulation
//! per seed), [`stats`] summarises, [`report`] writes `results.md` / `results.csv` /
//! `summary.csv`, and [`plots`] the SVGs.

pub mod cli;
pub mod configs;
pub mod matrix;
pub mod openloop;
pub mod outside;
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
    let records = if args.sim {
        matrix::run_sim_matrix(args).map_err(std::io::Error::other)?
    } else {
        matrix::run_matrix(args)
    };
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

/// docs/research.md, so that `cargo test --doc -p gort-tools` compiles and runs its Rust
/// example (the policy-writing walkthrough) against the current gort.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/research.md")]
pub struct ResearchMd;

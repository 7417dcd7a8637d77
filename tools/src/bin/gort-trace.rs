//! `gort-trace`: gort execution traces as Chrome trace JSON or a text summary.
//! Run `gort-trace --help` for the usage.

use std::fs::File;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use gort::trace::Trace;
use gort_tools::args::{self, Command, USAGE};
use gort_tools::describe::count;
use gort_tools::trace_json;
use gort_tools::trace_summary::Summary;

fn read(path: &std::path::Path) -> Result<Trace, String> {
    Trace::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn run(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::Help => println!("{USAGE}"),
        Command::Summary { trace } => {
            let t = read(&trace)?;
            let summary = Summary::new(&t);
            drop(t);
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = write!(io::stdout().lock(), "{summary}");
        }
        Command::Json { trace, out, opts } => {
            let started = Instant::now();
            let t = read(&trace)?;
            let file =
                File::create(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            let stats = trace_json::write_json(&t, &opts, file)
                .map_err(|e| format!("writing {}: {e}", out.display()))?;
            eprintln!(
                "{}: {} trace events → {} JSON events ({} runs, {} flows, {} instants, {} counter samples) in {:.2} s",
                out.display(),
                count(stats.trace_events),
                count(stats.json_events),
                count(stats.runs),
                count(stats.flows),
                count(stats.instants),
                count(stats.counters),
                started.elapsed().as_secs_f64(),
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cmd = match args::parse(std::env::args().skip(1)) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("gort-trace: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gort-trace: {e}");
            ExitCode::FAILURE
        }
    }
}

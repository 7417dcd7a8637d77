//! `gort-lab`: compares runtime configurations on a matrix of workloads; see
//! `gort_tools::lab` and `gort-lab --help`.

use std::process::ExitCode;

use gort_tools::lab::{self, cli};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match cli::parse(&argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gort-lab: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let t = std::time::Instant::now();
    match lab::run(&args) {
        Ok(()) => {
            eprintln!(
                "gort-lab: wrote {} in {:.1}s",
                args.out.join("results.md").display(),
                t.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gort-lab: {e}");
            ExitCode::FAILURE
        }
    }
}

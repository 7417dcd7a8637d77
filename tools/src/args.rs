//! The command line of `gort-trace`.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::trace_json::JsonOptions;

/// Usage text, for `--help` and errors.
pub const USAGE: &str = "\
usage:
  gort-trace json TRACE -o OUT.json [--from MS] [--to MS] [--goroutine ID...] [--no-args]
  gort-trace summary TRACE

json      writes Chrome Trace Event JSON for Perfetto (ui.perfetto.dev),
          chrome://tracing or speedscope: a track per M with a slice per goroutine
          run, arrows from each unpark to the run it caused, scheduler instants and
          run-queue / goroutine counters.
          --from, --to   keep only this window (ms since the trace started)
          --goroutine    keep only these goroutines' runs and arrows (repeat the flag,
                         list ids after it, or separate them with commas)
          --no-args      slices without details, for speedscope (which makes each
                         slice with args a frame of its own)
summary   prints per-P busy time, scheduling latency, the goroutines that ran and
          waited longest, the longest runs without a scheduling point and anomalies.

Record a trace with GORT_TRACE=FILE, gort::Builder::trace or gort::trace::start.";

/// What to do.
#[derive(Clone, Debug)]
pub enum Command {
    /// `json`.
    Json {
        /// The trace.
        trace: PathBuf,
        /// The JSON file to write.
        out: PathBuf,
        /// Window and goroutine filter.
        opts: JsonOptions,
    },
    /// `summary`.
    Summary {
        /// The trace.
        trace: PathBuf,
    },
    /// `--help`.
    Help,
}

fn ms_to_ns(flag: &str, v: Option<String>) -> Result<u64, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value (ms)"))?;
    match v.parse::<f64>() {
        Ok(ms) if ms >= 0.0 && ms.is_finite() => Ok((ms * 1e6).round() as u64),
        _ => Err(format!("{flag}: `{v}` is not a number of ms ≥ 0")),
    }
}

fn goroutine_ids(v: &str, into: &mut HashSet<u64>) -> Result<(), String> {
    for id in v.split(',').filter(|s| !s.is_empty()) {
        let id = id.trim_start_matches('g');
        into.insert(
            id.parse()
                .map_err(|_| format!("--goroutine: `{v}` is not a goroutine id"))?,
        );
    }
    Ok(())
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    let cmd = args.next().ok_or("no command given")?;
    let mut trace = None;
    let mut out = None;
    let mut opts = JsonOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-o" | "--output" => {
                out = Some(PathBuf::from(args.next().ok_or("-o needs a file name")?));
            }
            "--no-args" => opts.no_args = true,
            "--from" => opts.from = Some(ms_to_ns("--from", args.next())?),
            "--to" => opts.to = Some(ms_to_ns("--to", args.next())?),
            "--goroutine" | "-g" => {
                let set = opts.goroutines.get_or_insert_with(HashSet::new);
                goroutine_ids(&args.next().ok_or("--goroutine needs an id")?, set)?;
                // Ids may follow as separate words: take those that are numbers.
                while let Some(next) = args.peek() {
                    if !next
                        .trim_start_matches('g')
                        .starts_with(|c: char| c.is_ascii_digit())
                        || goroutine_ids(next, &mut HashSet::new()).is_err()
                    {
                        break;
                    }
                    goroutine_ids(&args.next().expect("peeked"), set)?;
                }
            }
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option {flag}"))
            }
            _ if trace.is_none() => trace = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument `{a}`")),
        }
    }
    match cmd.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "json" => {
            let trace = trace.ok_or("json: no trace file given")?;
            let out = out.ok_or("json: no output given (-o OUT.json)")?;
            if let (Some(from), Some(to)) = (opts.from, opts.to) {
                if from > to {
                    return Err("--from is after --to".into());
                }
            }
            Ok(Command::Json { trace, out, opts })
        }
        "summary" => {
            if out.is_some() || opts.from.is_some() || opts.to.is_some() || opts.no_args {
                return Err("summary takes only a trace file".into());
            }
            Ok(Command::Summary {
                trace: trace.ok_or("summary: no trace file given")?,
            })
        }
        other => Err(format!("unknown command `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, Command};

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn json_with_window_and_goroutines() {
        let cmd = parse(args(
            "json t.trace -o out.json --from 1.5 --to 20 --goroutine 3 g4 5,6 --goroutine 7 --no-args",
        ))
        .unwrap();
        let Command::Json { trace, out, opts } = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!(trace.to_str(), Some("t.trace"));
        assert_eq!(out.to_str(), Some("out.json"));
        assert_eq!(opts.from, Some(1_500_000));
        assert_eq!(opts.to, Some(20_000_000));
        assert!(opts.no_args);
        let mut gs: Vec<u64> = opts.goroutines.unwrap().into_iter().collect();
        gs.sort();
        assert_eq!(gs, vec![3, 4, 5, 6, 7]);
    }

    #[test]
    fn ids_after_goroutine_stop_at_a_non_id() {
        let cmd = parse(args("json --goroutine 3 t.trace -o o.json")).unwrap();
        let Command::Json { trace, opts, .. } = cmd else {
            panic!()
        };
        assert_eq!(trace.to_str(), Some("t.trace"));
        assert_eq!(opts.goroutines.unwrap().len(), 1);
    }

    #[test]
    fn mistakes_are_errors() {
        assert!(parse(args("json t.trace")).is_err()); // no -o
        assert!(parse(args("json t.trace -o o --from x")).is_err());
        assert!(parse(args("json t.trace -o o --from 5 --to 1")).is_err());
        assert!(parse(args("summary")).is_err());
        assert!(parse(args("summary t --from 1")).is_err());
        assert!(parse(args("frobnicate t")).is_err());
        assert!(parse(args("summary t --bogus")).is_err());
        assert!(matches!(parse(args("summary --help")), Ok(Command::Help)));
    }
}

//! The command line of `gort-lab`.

use std::path::PathBuf;
use std::time::Duration;

use super::configs::{self, LabConfig};
use super::openloop::Service;
use super::workloads::{self, Workload};

/// Usage text, for `--help` and errors.
pub const USAGE: &str = "\
usage: gort-lab [--quick] [--sim [--seed N]] --out DIR [--workloads a,b] [--configs x,y]
                [--procs 1,2] [--runs N] [--slo-us N] [--service fixed|exp|bimodal]
                [--service-us N] [--loads 0.2,0.5,0.9] [--level-ms N]

Runs every workload under every configuration at every procs value, N runs each with
the configurations in a shuffled order each run, a fresh runtime per run. A
configuration is one of gort's scheduling policies (go = Go's = the baseline, tokio,
steal-one, round-robin-victims, no-runnext, global-fifo, work-sharing: the default
set), the lab's outside policy (lab-wake-balance), or Go's policy with one knob
changed (no-steal, global-every-tick, no-spin, slice-100us). Writes DIR/results.md
(medians, spread, ratio and paired ratio to go, scheduler counters), DIR/results.csv
(one row per run), DIR/summary.csv (one row per cell), DIR/ratios.svg (paired ratios),
DIR/<workload>.svg and DIR/latency_load.svg. Progress goes to stderr.

With --sim, every closed workload runs in gort's deterministic simulation instead
(skipped: the server, which needs a plain OS thread and the wall clock, and
slice-100us, since time slices are real time, absent from simulation): run i
uses seed N+i, and the lab reports scheduling decisions (schedule steps, switches,
steals, stolen, global pulls, runnext runs, spins) and virtual time instead of wall
time, each with its ratio to go. The same seeds give byte-identical files.
DIR/sim_counters.svg plots the counters.

  --quick        small workloads, procs 2, 3 runs, short load levels (< 1 min)
  --sim          deterministic simulation (see above); --quick: < 30 s
  --seed         first simulation seed (default 0)
  --workloads    subset of the workloads (default: all)
  --configs      configurations or groups: policies (the default), outside, knobs,
                 all; go is always added
  --procs        Ps per runtime (default 1,2; --quick: 2; --sim: 2,4)
  --runs         runs (seeds under --sim) per cell (default 5; --quick: 3)
  --slo-us       p99 sojourn SLO for the server workload, µs (default 1000)
  --service      server service-time distribution (default exp)
  --service-us   mean service time, µs (default 50)
  --loads        offered loads, fractions of procs / mean service (default
                 0.2,0.4,0.6,0.7,0.8,0.9; --quick: 0.3,0.6,0.8,0.9)
  --level-ms     arrival time per load level, ms (default 300; --quick: 120)";

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Args {
    /// `--quick`.
    pub quick: bool,
    /// `--sim`: deterministic simulation instead of real runs.
    pub sim: bool,
    /// First simulation seed; run `i` uses `seed + i`.
    pub seed: u64,
    /// Output folder.
    pub out: PathBuf,
    /// Workloads, in the order of [`workloads::ALL`].
    pub workloads: Vec<&'static Workload>,
    /// Configurations, baseline first.
    pub configs: Vec<&'static LabConfig>,
    /// Under `--sim`: configurations asked for that cannot be simulated (left out of
    /// `configs`).
    pub sim_skipped: Vec<&'static LabConfig>,
    /// Procs values.
    pub procs: Vec<usize>,
    /// Runs per cell.
    pub runs: usize,
    /// SLO on the server's p99 sojourn, µs.
    pub slo_us: f64,
    /// Server service-time distribution.
    pub service: Service,
    /// Server mean service time.
    pub service_mean: Duration,
    /// Server offered loads.
    pub loads: Vec<f64>,
    /// Arrival time per load level.
    pub level: Duration,
}

fn list<T>(v: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    let items: Result<Vec<T>, String> = v
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse(s.trim()).ok_or_else(|| format!("bad {what} '{s}'")))
        .collect();
    match items {
        Ok(v) if v.is_empty() => Err(format!("empty {what} list")),
        r => r,
    }
}

/// Parses the arguments (without the program name). `Err` carries the message to
/// print; `Ok(None)` means `--help`.
pub fn parse(argv: &[String]) -> Result<Option<Args>, String> {
    let mut quick = false;
    let mut sim = false;
    let mut out = None;
    let mut opts: Vec<(String, String)> = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => quick = true,
            "--sim" => sim = true,
            "--out" | "--workloads" | "--configs" | "--procs" | "--runs" | "--slo-us"
            | "--service" | "--service-us" | "--loads" | "--level-ms" | "--seed" => {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                if a == "--out" {
                    out = Some(PathBuf::from(v));
                } else {
                    opts.push((a.clone(), v.clone()));
                }
            }
            _ => return Err(format!("unknown argument '{a}'")),
        }
    }
    let mut args = Args {
        quick,
        sim,
        seed: 0,
        out: out.ok_or("--out DIR is required")?,
        workloads: workloads::ALL.iter().collect(),
        configs: configs::default_set(),
        sim_skipped: Vec::new(),
        procs: match (quick, sim) {
            (true, _) => vec![2],
            (false, true) => vec![2, 4],
            (false, false) => vec![1, 2],
        },
        runs: if quick { 3 } else { 5 },
        slo_us: 1000.0,
        service: Service::Exp,
        service_mean: Duration::from_micros(50),
        loads: if quick {
            vec![0.3, 0.6, 0.8, 0.9]
        } else {
            vec![0.2, 0.4, 0.6, 0.7, 0.8, 0.9]
        },
        level: Duration::from_millis(if quick { 120 } else { 300 }),
    };
    for (k, v) in opts {
        match k.as_str() {
            "--workloads" => {
                let ws = list(&v, "workload", workloads::by_name)
                    .map_err(|e| format!("{e}: valid workloads are {}", workloads::names()))?;
                // Keep the canonical order, drop duplicates.
                args.workloads = workloads::ALL
                    .iter()
                    .filter(|w| ws.iter().any(|x| x.name == w.name))
                    .collect();
            }
            "--configs" => {
                let cs = list(&v, "config", configs::by_name)
                    .map_err(|e| format!("{e}: valid configs are {}", configs::names()))?;
                let mut chosen: Vec<&'static LabConfig> = vec![&configs::ALL[0]];
                for c in cs.into_iter().flatten() {
                    if !chosen.iter().any(|x| x.name == c.name) {
                        chosen.push(c);
                    }
                }
                args.configs = chosen;
            }
            "--procs" => {
                args.procs = list(&v, "procs", |s| s.parse().ok().filter(|&p: &usize| p >= 1))?;
            }
            "--runs" => {
                args.runs = v
                    .parse()
                    .ok()
                    .filter(|&r: &usize| r >= 1)
                    .ok_or(format!("bad --runs '{v}'"))?;
            }
            "--seed" => {
                args.seed = v.parse().map_err(|_| format!("bad --seed '{v}'"))?;
            }
            "--slo-us" => {
                args.slo_us = v
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0)
                    .ok_or(format!("bad --slo-us '{v}'"))?;
            }
            "--service" => {
                args.service = Service::parse(&v).ok_or(format!(
                    "bad --service '{v}': valid are fixed, exp, bimodal"
                ))?;
            }
            "--service-us" => {
                let us: u64 = v
                    .parse()
                    .ok()
                    .filter(|&u: &u64| u >= 1)
                    .ok_or(format!("bad --service-us '{v}'"))?;
                args.service_mean = Duration::from_micros(us);
            }
            "--loads" => {
                let mut ls = list(&v, "load", |s| {
                    s.parse().ok().filter(|&l: &f64| l > 0.0 && l < 2.0)
                })?;
                ls.sort_by(f64::total_cmp);
                ls.dedup();
                args.loads = ls;
            }
            "--level-ms" => {
                let ms: u64 = v
                    .parse()
                    .ok()
                    .filter(|&m: &u64| m >= 1)
                    .ok_or(format!("bad --level-ms '{v}'"))?;
                args.level = Duration::from_millis(ms);
            }
            _ => unreachable!("listed above"),
        }
    }
    if args.sim {
        let (ok, skipped) = args.configs.iter().partition(|c| c.simulable);
        args.configs = ok;
        args.sim_skipped = skipped;
    }
    Ok(Some(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Option<Args>, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let e = p("--out x --workloads spawn,nope").unwrap_err();
        assert!(e.contains("nope") && e.contains("skynet"), "{e}");
        let e = p("--out x --configs zzz").unwrap_err();
        assert!(e.contains("zzz") && e.contains("no-runnext"), "{e}");
    }

    #[test]
    fn the_default_set_is_the_built_in_policies_and_groups_expand() {
        let a = p("--out x").unwrap().unwrap();
        let names: Vec<_> = a.configs.iter().map(|c| c.name).collect();
        assert_eq!(names, gort::policy::BuiltIn::NAMES);
        let a = p("--out x --configs knobs,outside,no-spin")
            .unwrap()
            .unwrap();
        let names: Vec<_> = a.configs.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "go",
                "no-steal",
                "global-every-tick",
                "no-spin",
                "slice-100us",
                "lab-wake-balance"
            ]
        );
        assert_eq!(
            p("--out x --configs all").unwrap().unwrap().configs.len(),
            configs::ALL.len()
        );
        let a = p("--out x --sim --seed 9").unwrap().unwrap();
        assert!(a.sim && a.seed == 9 && a.procs == [2, 4]);
    }

    #[test]
    fn go_is_always_the_first_config() {
        let a = p("--out x --configs no-steal,no-runnext").unwrap().unwrap();
        let names: Vec<_> = a.configs.iter().map(|c| c.name).collect();
        assert_eq!(names, ["go", "no-steal", "no-runnext"]);
        assert!(p("--quick").is_err(), "--out is required");
    }
}

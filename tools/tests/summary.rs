//! `gort-trace summary` on a trace of a program with one long spinner, short spinners
//! and a sleeper: the numbers say what the program did.

mod common;

use std::time::{Duration, Instant};

use common::{goroutine_named, parse_json, traced};
use gort::trace::Trace;
use gort_tools::trace_json::{write_json, JsonOptions};
use gort_tools::trace_summary::Summary;

const LONG: Duration = Duration::from_millis(80);
const SHORT: Duration = Duration::from_millis(2);
const SLEEP: Duration = Duration::from_millis(50);

/// `d` in trace ns, less 2 %: trace times come from the cycle counter, whose rate gort
/// calibrates in 2 ms at startup; on a loaded VM it was seen off by up to 0.5 %.
fn at_least(d: Duration) -> u64 {
    d.as_nanos() as u64 / 100 * 98
}

/// Runs for `d` without a scheduling point.
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn program() {
    let named = |name: String| gort::GoroutineBuilder::new().name(name);
    let mut hs = vec![named("long spinner".into()).spawn(|| spin(LONG)).unwrap()];
    for i in 0..4 {
        hs.push(named(format!("short{i}")).spawn(|| spin(SHORT)).unwrap());
    }
    hs.push(
        named("sleeper".into())
            .spawn(|| gort::time::sleep(SLEEP))
            .unwrap(),
    );
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn the_summary_names_the_longest_spinner_and_the_sleeper() {
    let ((), path) = traced("spinners.trace", 2, program);
    let t = Trace::read(&path).unwrap();
    let s = Summary::new(&t);
    let text = s.to_string();

    // Totals.
    assert_eq!(s.events, t.events.len() as u64);
    assert_eq!(s.bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(s.span_ns, t.events.last().unwrap().ts);
    assert!(s.span_ns >= at_least(LONG));
    assert_eq!(s.procs, 2);
    assert_eq!(s.goroutines, 7, "main, 5 spinners, the sleeper");
    assert_eq!(s.created, 7);
    assert!(s.complete);
    assert_eq!(s.anomalies.total(), 0, "{}", s.anomalies);
    assert!(text.contains("anomalies: none"));
    let per_event = format!("{:.1} bytes/event", s.bytes as f64 / s.events as f64);
    assert!(text.contains(&per_event), "{text}");

    // Ps: both listed; busy time within the span; their runs add up.
    assert_eq!(s.ps.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 1]);
    for (_, p) in &s.ps {
        assert!(p.busy_ns <= s.span_ns);
    }
    let busy: u64 = s.ps.iter().map(|(_, p)| p.busy_ns).sum();
    assert!(busy >= at_least(LONG), "the long spin alone");
    let runs: u64 = s.ps.iter().map(|(_, p)| p.runs).sum();
    assert_eq!(runs + s.runs_without_p, s.runs);
    assert!(s.runs >= 7);

    // Latency: every goroutine was created in the trace, so each run has a sample.
    let l = s.latency;
    assert_eq!(l.samples, s.runs);
    assert!(l.p50 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);

    // The long spinner: the longest run and the most run time.
    let long = goroutine_named(&t, "long spinner");
    let first = &s.longest_runs[0];
    assert_eq!(first.run.g, long);
    assert_eq!(first.label, "long spinner");
    assert!(first.run.duration() >= at_least(LONG), "{text}");
    assert!(first.spawn_site.starts_with("tools/tests/summary.rs:"));
    assert_eq!(first.end, "done");
    assert!(s
        .longest_runs
        .windows(2)
        .all(|w| w[0].run.duration() >= w[1].run.duration()));
    assert_eq!(s.top_run[0].g, long);
    assert!(s.top_run[0].run_ns >= at_least(LONG));
    // In the text, it is the first line under its heading.
    let mut lines = text.lines();
    lines.find(|l| l.starts_with("longest runs without a scheduling point"));
    let first_line = lines.nth(1).unwrap();
    assert!(
        first_line.contains(&format!("long spinner (g{long})")),
        "{first_line}"
    );

    // The sleeper waited, parked, at least its sleep.
    let sleeper = goroutine_named(&t, "sleeper");
    let line = s.top_wait.iter().find(|g| g.g == sleeper).unwrap();
    assert!(line.parked_ns >= at_least(SLEEP));
    assert!(line.run_ns < at_least(SLEEP));
    assert!(s
        .top_wait
        .windows(2)
        .all(|w| { w[0].parked_ns + w[0].runnable_ns >= w[1].parked_ns + w[1].runnable_ns }));

    // Sysmon asked the long spinner to yield; the JSON shows it as an instant.
    let mut out = Vec::new();
    write_json(&t, &JsonOptions::default(), &mut out).unwrap();
    let evs = parse_json(&out);
    assert!(evs.iter().any(|e| e.ph == "i"
        && e.name == "preempt request"
        && e.arg_u64("goroutine") == Some(long)));
    std::fs::remove_file(path).unwrap();
}

//! The `gort-trace` binary: its commands write what they say, and bad input is an
//! error with the usage, not a panic.

mod common;

use std::process::Command;

use common::{parse_json, runs, temp_path, traced};

fn gort_trace(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gort-trace"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_and_summary_commands_work_on_a_trace_file() {
    let (v, path) = traced("cli.trace", 2, || {
        let h = gort::GoroutineBuilder::new()
            .name("child")
            .spawn(|| {
                gort::yield_now();
                21
            })
            .unwrap();
        h.join().unwrap() * 2
    });
    assert_eq!(v, 42);
    let trace = path.to_str().unwrap();

    let out = gort_trace(&["summary", trace]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("trace: "), "{text}");
    for heading in [
        "Ps:",
        "scheduling latency",
        "goroutines with the most run time",
        "goroutines with the most wait time",
        "longest runs without a scheduling point",
        "anomalies: none",
    ] {
        assert!(text.contains(heading), "no {heading:?} in\n{text}");
    }
    assert!(text.contains("child (g"), "{text}");

    let json = temp_path("cli.json");
    let out = gort_trace(&["json", trace, "-o", json.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let evs = parse_json(&std::fs::read(&json).unwrap());
    let child: Vec<_> = runs(&evs)
        .into_iter()
        .filter(|r| r.name == "child")
        .collect();
    assert_eq!(child.len(), 2, "a run, a yield, a run");
    assert_eq!(child[0].arg_str("end"), Some("yield"));

    // For speedscope: the same slices, without args.
    let out = gort_trace(&["json", trace, "-o", json.to_str().unwrap(), "--no-args"]);
    assert!(out.status.success(), "{out:?}");
    let bare = parse_json(&std::fs::read(&json).unwrap());
    let bare_runs = runs(&bare);
    assert_eq!(bare_runs.len(), runs(&evs).len());
    assert!(bare_runs.iter().all(|r| r.args.is_null()));
    assert_eq!(bare_runs.iter().filter(|r| r.name == "child").count(), 2);

    // Only main: no child slices; a window past the end: no slices at all.
    let main = gort::trace::Trace::read(&path).unwrap();
    let main_id = main
        .events
        .iter()
        .find_map(|e| match e.kind {
            gort::trace::EventKind::GoCreate { g, .. } if main.name(g) == Some("main") => Some(g),
            _ => None,
        })
        .unwrap();
    let id = main_id.to_string();
    let out = gort_trace(&["json", trace, "-o", json.to_str().unwrap(), "-g", &id]);
    assert!(out.status.success(), "{out:?}");
    let evs = parse_json(&std::fs::read(&json).unwrap());
    assert!(!runs(&evs).is_empty());
    assert!(runs(&evs).iter().all(|r| r.name == "main"));
    let out = gort_trace(&["json", trace, "-o", json.to_str().unwrap(), "--from", "1e6"]);
    assert!(out.status.success(), "{out:?}");
    assert!(runs(&parse_json(&std::fs::read(&json).unwrap())).is_empty());

    std::fs::remove_file(json).unwrap();
    std::fs::remove_file(path).unwrap();
}

#[test]
fn bad_arguments_and_files_are_errors() {
    let usage = gort_trace(&[]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage:"));
    assert_eq!(gort_trace(&["json", "x.trace"]).status.code(), Some(2));
    assert_eq!(gort_trace(&["frob"]).status.code(), Some(2));

    let missing = gort_trace(&["summary", "/nonexistent/x.trace"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));

    let junk = temp_path("junk.trace");
    std::fs::write(&junk, b"not a trace, not at all").unwrap();
    let out = gort_trace(&["summary", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a trace file"));
    std::fs::remove_file(junk).unwrap();

    let help = gort_trace(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("gort-trace json TRACE"));
}

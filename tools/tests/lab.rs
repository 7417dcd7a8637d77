//! The `gort-lab` binary on tiny matrices: `--quick` writes results.md, results.csv,
//! summary.csv and well-formed SVGs with a series per config; every policy name is a
//! configuration; unknown names are rejected with the valid ones; `--sim` is
//! deterministic. Also: docs/research.md shows the lab's outside policy as it is.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CONFIGS: [&str; 3] = ["go", "no-runnext", "no-steal"];

/// The lab's outside policy; the built-in ones are `gort::policy::BuiltIn::NAMES`.
const OUTSIDE: &str = "lab-wake-balance";

/// The built-in policies, then the outside one.
fn policies() -> Vec<&'static str> {
    let mut all = gort::policy::BuiltIn::NAMES.to_vec();
    all.push(OUTSIDE);
    all
}

fn out_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gort-lab-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn lab(out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gort-lab"))
        .args(["--out", out.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let head = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (head, rows)
}

fn col(head: &[String], name: &str) -> usize {
    head.iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn a_tiny_matrix_writes_every_output() {
    let out = out_dir("quick");
    let o = Command::new(env!("CARGO_BIN_EXE_gort-lab"))
        .args(["--quick", "--out", out.to_str().unwrap()])
        .args([
            "--workloads",
            "ping-pong,skynet,server",
            "--configs",
            "no-runnext,no-steal",
        ])
        .args([
            "--runs",
            "2",
            "--procs",
            "2",
            "--loads",
            "0.3,0.6",
            "--level-ms",
            "40",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    // Progress: one line per run (2 closed workloads + 2 load levels) × 3 configs × 2 runs.
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with('[')).count(),
        4 * 3 * 2,
        "{stderr}"
    );

    let (head, rows) = csv(&std::fs::read_to_string(out.join("results.csv")).unwrap());
    assert_eq!(rows.len(), 4 * 3 * 2);
    let load = col(&head, "load");
    for r in &rows {
        assert_eq!(r.len(), head.len(), "{r:?}");
        for (i, v) in r.iter().enumerate().skip(2) {
            // Sojourn and load columns are empty for closed workloads; the rest are numbers.
            let optional = i == load
                || head[i].contains("sojourn")
                || head[i].contains("rps")
                || head[i] == "requests"
                || head[i] == "dispatch_lag_p99_us";
            if !(optional && v.is_empty()) {
                assert!(
                    v.parse::<f64>().is_ok_and(f64::is_finite),
                    "{}={v:?} in {r:?}",
                    head[i]
                );
            }
        }
    }

    let (head, rows) = csv(&std::fs::read_to_string(out.join("summary.csv")).unwrap());
    assert_eq!(rows.len(), 4 * 3, "one row per workload/load × config");
    let (cfg, ratio) = (col(&head, "config"), col(&head, "ratio_to_go"));
    for r in rows.iter().filter(|r| r[cfg] == "go") {
        assert_eq!(r[ratio], "1.00", "{r:?}");
    }
    for r in &rows {
        assert!(r[ratio].parse::<f64>().unwrap() > 0.0, "{r:?}");
    }

    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    for h in [
        "## ping-pong",
        "## skynet",
        "## server",
        "crosses the SLO",
        "| go | 2 |",
    ] {
        assert!(md.contains(h), "results.md lacks {h}:\n{md}");
    }

    for svg in [
        "ping-pong.svg",
        "skynet.svg",
        "latency_load.svg",
        "ratios.svg",
    ] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(text.trim_start().starts_with("<svg"), "{svg}");
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{svg}: {e}"));
        // Each config is a series with a legend entry.
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        for c in CONFIGS {
            assert_eq!(
                texts.iter().filter(|t| **t == c).count(),
                1,
                "{svg}: legend for {c}"
            );
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn unknown_names_are_errors_that_list_the_valid_ones() {
    let o = Command::new(env!("CARGO_BIN_EXE_gort-lab"))
        .args(["--out", "/nonexistent", "--workloads", "spawn,bogus"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("bogus") && e.contains("threadring") && e.contains("server"),
        "{e}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_gort-lab"))
        .args(["--out", "/nonexistent", "--configs", "go,bogus"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("'bogus'"), "{e}");
    let valid = e.split("valid configs are").nth(1).unwrap_or_default();
    for name in
        policies()
            .into_iter()
            .chain(["no-steal", "global-every-tick", "no-spin", "slice-100us"])
    {
        assert!(valid.contains(name), "the error lacks {name}: {e}");
    }
}

#[test]
fn every_policy_name_is_a_configuration() {
    // Under --sim --quick with one seed and one small workload, so it takes a second.
    let out = out_dir("policies");
    let o = lab(
        &out,
        &[
            "--sim",
            "--quick",
            "--runs",
            "1",
            "--workloads",
            "ping-pong",
            "--configs",
            &policies()[1..].join(","),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    for name in policies() {
        assert!(
            md.contains(&format!("| {name} | 2 |")),
            "no row for {name}:\n{md}"
        );
    }
    // Without --configs: the seven built-in policies, not the outside one or the knobs.
    let o = lab(
        &out,
        &[
            "--sim",
            "--quick",
            "--runs",
            "1",
            "--workloads",
            "ping-pong",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    for name in gort::policy::BuiltIn::NAMES {
        assert!(
            md.contains(&format!("| {name} | 2 |")),
            "no row for {name}:\n{md}"
        );
    }
    for name in ["lab-wake-balance", "no-steal", "no-spin"] {
        assert!(
            !md.contains(&format!("| {name} | 2 |")),
            "{name} in the default set"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn sim_gives_identical_files_for_the_same_seed() {
    let (a, b) = (out_dir("sim-a"), out_dir("sim-b"));
    let args = [
        "--sim",
        "--quick",
        "--seed",
        "7",
        "--runs",
        "2",
        "--workloads",
        "skynet,timers,server",
        "--configs",
        "policies,outside,no-spin,slice-100us",
    ];
    for out in [&a, &b] {
        let o = lab(out, &args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{stderr}");
        // The server and the real-clock knob are skipped with a note, not run.
        assert!(stderr.contains("skips server"), "{stderr}");
        assert!(stderr.contains("skips slice-100us"), "{stderr}");
    }
    for f in [
        "results.md",
        "results.csv",
        "summary.csv",
        "sim_counters.svg",
    ] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between two runs with the same seeds");
    }
    let (head, rows) = csv(&std::fs::read_to_string(a.join("results.csv")).unwrap());
    // 2 workloads × 9 configs × 2 seeds, seeds 7 and 8, virtual time only where it sleeps.
    assert_eq!(rows.len(), 2 * 9 * 2);
    let (seed, vt, w) = (
        col(&head, "seed"),
        col(&head, "virtual_ms"),
        col(&head, "workload"),
    );
    assert!(rows.iter().all(|r| r[seed] == "7" || r[seed] == "8"));
    for r in &rows {
        let v: f64 = r[vt].parse().unwrap();
        assert_eq!(v > 0.0, r[w] == "timers", "{r:?}");
    }
    let md = std::fs::read_to_string(a.join("results.md")).unwrap();
    assert!(
        md.contains("Skipped: server") && md.contains("`slice-100us`"),
        "{md}"
    );
    assert!(
        !md.contains("wall time"),
        "simulated results mention wall time:\n{md}"
    );
    let svg = std::fs::read_to_string(a.join("sim_counters.svg")).unwrap();
    roxmltree::Document::parse(&svg).unwrap();
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::remove_dir_all(&b).unwrap();
}

#[test]
fn research_md_shows_the_outside_policy_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../docs/research.md")).unwrap();
    let code = std::fs::read_to_string(root.join("src/lab/outside.rs")).unwrap();
    // Every line of the policy (from its struct to the end of its impl) is in the doc's
    // example, in order.
    let start = code.find("pub struct WakeBalance").unwrap();
    let mut rest = doc.as_str();
    let lines = code[start..]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"));
    for line in lines {
        let line = line.replace("pub struct", "struct");
        match rest.find(&line) {
            Some(i) => rest = &rest[i + line.len()..],
            None => panic!("docs/research.md lacks (in order) the line: {line}"),
        }
    }
}

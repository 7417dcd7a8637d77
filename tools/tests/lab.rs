//! The `gort-lab` binary on a tiny matrix: it writes results.md, results.csv,
//! summary.csv and well-formed SVGs with a series per config, and rejects unknown names.

use std::path::PathBuf;
use std::process::Command;

const CONFIGS: [&str; 3] = ["go", "no-runnext", "no-steal"];

fn out_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("gort-lab-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
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
    let out = out_dir();
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

    for svg in ["ping-pong.svg", "skynet.svg", "latency_load.svg"] {
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
        .args(["--out", "/nonexistent", "--configs", "bogus"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("steal-one"), "{e}");
}

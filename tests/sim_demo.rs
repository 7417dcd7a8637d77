//! `examples/sim_demo`: the same seed prints the same schedule hash and result, another
//! seed another hash; a bad argument is a usage error.

#[path = "support/examples.rs"]
mod examples;

use std::process::Command;
use std::time::Duration;

const EXAMPLES: &[&str] = &["sim_demo"];
const LIMIT: Duration = Duration::from_secs(60);

fn demo(args: &[&str]) -> (i32, String, String) {
    let out = examples::run_bounded(
        Command::new(examples::example("sim_demo"))
            .args(args)
            .env_remove("GORT_POLICY")
            .env_remove("GORT_CHAOS"),
        b"",
        LIMIT,
    )
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn hash_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("schedule hash: "))
        .unwrap_or_else(|| panic!("no schedule hash in {stdout}"))
}

#[test]
fn one_seed_one_schedule_and_result() {
    let (code, a, err) = demo(&["--seed", "42"]);
    assert_eq!(code, 0, "{err}");
    assert!(a.contains("result: sum 204"), "{a}");
    assert!(a.contains("virtual time: 70ms"), "{a}");
    let (_, b, _) = demo(&["--seed", "42"]);
    assert_eq!(a, b, "same seed, different output");
    let others: Vec<String> = ["43", "44", "45"]
        .iter()
        .map(|s| hash_line(&demo(&["--seed", s]).1).to_string())
        .collect();
    assert!(
        others.iter().any(|h| h != hash_line(&a)),
        "seeds 42-45 all gave {}",
        hash_line(&a)
    );
}

#[test]
fn a_bad_argument_is_a_usage_error() {
    let (code, _, err) = demo(&["--seed", "forty-two"]);
    assert_eq!(code, 2);
    assert!(err.contains("usage: sim_demo"), "{err}");
}

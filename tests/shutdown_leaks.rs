//! Nothing leaks when `gort::run` returns with goroutines still blocked (on a channel,
//! socket reads, an accept, an hour-long timer, inside `gort::blocking`): the program
//! `examples/shutdown_leaks.rs` checks descriptors and threads itself, and runs here
//! once as it is and once under valgrind's memcheck, which must find no definitely lost
//! byte and no memory error. Without valgrind installed the memcheck test says so on
//! stderr and passes (CI installs it).
//!
//! The example is a separate program, not a test of this binary, so that valgrind sees
//! only the runtime and its shutdown (not libtest's threads), and so that the
//! descriptor count is not disturbed by other tests running in the same process.

#[path = "support/examples.rs"]
mod examples;

use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// The one example this test runs, built (once per test process) with the profile of
/// this test binary, into the same target directory, so it is never a stale build.
const EXAMPLES: &[&str] = &["shutdown_leaks"];
/// Bound on one run of the example; under valgrind it takes a few seconds.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// The line the example prints when its own checks pass.
const OK: &str = "shutdown_leaks: ok";

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with no input and its output captured, killing it if it outlives `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Run {
    let out =
        examples::run_bounded(cmd, b"", limit).unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn descriptors_and_threads_are_released_when_run_returns() {
    let r = run(
        &mut Command::new(examples::example("shutdown_leaks")),
        RUN_LIMIT,
    );
    assert!(
        r.status.success() && r.stdout.contains(OK),
        "shutdown_leaks failed ({}):\n{}{}",
        r.status,
        r.stdout,
        r.stderr
    );
}

/// The number in memcheck's "definitely lost: N bytes in M blocks" line ("All heap
/// blocks were freed" when nothing at all is left).
fn definitely_lost(report: &str) -> Option<u64> {
    if report.contains("All heap blocks were freed -- no leaks are possible") {
        return Some(0);
    }
    let rest = report.split("definitely lost: ").nth(1)?;
    let bytes = rest.split(" bytes").next()?;
    bytes.replace(',', "").trim().parse().ok()
}

#[test]
fn memcheck_finds_nothing_definitely_lost_after_shutdown() {
    let has_valgrind = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_valgrind {
        eprintln!("valgrind is not installed (apt-get install valgrind): memcheck test skipped");
        return;
    }
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=memcheck",
        "--leak-check=full",
        // Memory errors and definite leaks fail the run; "possibly lost" is std's
        // handle of the main thread, kept in a thread-local as a tagged pointer.
        "--errors-for-leak-kinds=definite",
        "--error-exitcode=1",
        // Goroutine stacks sit 256 KiB apart in one mapping: a smaller limit makes
        // memcheck take a switch between them for a stack switch, not for a huge
        // frame (whose "freed" part it would then report on every later access).
        "--max-stackframe=131072",
        // valgrind runs one thread at a time under a lock that is not fair by default:
        // the main goroutine's busy wait for the others to block could keep the M that
        // must run them off the CPU for a minute (seen under chaos on a loaded machine).
        "--fair-sched=yes",
    ])
    .arg(examples::example("shutdown_leaks"))
    // valgrind faults on MADV_GUARD_INSTALL guard pages, which it does not know.
    .args(["--stack-policy", "mprotect"])
    // Under valgrind the main goroutine's checks are slow enough to be reported as a
    // hog; that is not what this test looks at.
    .env("GORT_HOGWARN", "0");
    let r = run(&mut cmd, RUN_LIMIT);
    let lost = definitely_lost(&r.stderr);
    assert!(
        r.status.success() && r.stdout.contains(OK) && lost == Some(0),
        "memcheck: exit {}, definitely lost {lost:?} bytes\n--- stdout\n{}\n--- stderr\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    eprintln!(
        "memcheck: {}",
        r.stderr
            .lines()
            .filter(|l| l.contains(" lost: ") || l.contains("ERROR SUMMARY"))
            .map(|l| l.split("== ").nth(1).unwrap_or(l).trim())
            .collect::<Vec<_>>()
            .join("; ")
    );
}

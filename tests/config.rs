//! Invalid settings are errors with a message; `GORT_PROCS` acts like `GOMAXPROCS`.

use gort::{ConfigError, Runtime, SpinningLimit};

fn err_of(b: gort::Builder) -> ConfigError {
    b.build().expect_err("the setting should be rejected")
}

fn assert_invalid(b: gort::Builder, setting: &str, needle: &str) {
    match err_of(b) {
        e @ ConfigError::Invalid { .. } => {
            let msg = e.to_string();
            assert!(msg.contains(setting), "{msg}");
            assert!(msg.contains(needle), "{msg}");
        }
        other => panic!("expected Invalid for {setting}, got {other:?}"),
    }
}

#[test]
fn bad_settings_are_rejected_with_the_setting_named() {
    assert_invalid(Runtime::builder().procs(0), "procs", "at least 1");
    assert_invalid(Runtime::builder().procs(1_000_000), "procs", "maximum");
    assert_invalid(
        Runtime::builder().local_queue_capacity(100),
        "local_queue_capacity",
        "power of two",
    );
    assert_invalid(
        Runtime::builder().local_queue_capacity(1),
        "local_queue_capacity",
        "power of two",
    );
    assert_invalid(
        Runtime::builder().stack_size(100),
        "stack_size",
        "smaller than a page",
    );
    assert_invalid(
        Runtime::builder().stack_size(usize::MAX),
        "stack_size",
        "maximum",
    );
    assert_invalid(
        Runtime::builder().steal_fraction(0.0),
        "steal_fraction",
        "(0, 1]",
    );
    assert_invalid(
        Runtime::builder().steal_fraction(1.5),
        "steal_fraction",
        "(0, 1]",
    );
    assert_invalid(
        Runtime::builder().steal_fraction(f64::NAN),
        "steal_fraction",
        "(0, 1]",
    );
    assert_invalid(
        Runtime::builder().global_queue_interval(0),
        "global_queue_interval",
        "at least 1",
    );
    assert_invalid(
        Runtime::builder().time_slice(std::time::Duration::ZERO),
        "time_slice",
        "longer than zero",
    );
}

#[test]
fn good_settings_are_kept_and_stack_sizes_round_up_to_pages() {
    let rt = Runtime::builder()
        .procs(3)
        .stack_size(10_000)
        .local_queue_capacity(64)
        .steal_fraction(0.25)
        .steal_rounds(2)
        .spinning(SpinningLimit::AtMost(1))
        .build()
        .unwrap();
    let c = rt.config();
    assert_eq!(c.procs, 3);
    assert_eq!(c.stack_size, 12_288);
    assert_eq!(c.local_queue_capacity, 64);
    assert_eq!(c.steal_permille, 250);
    assert_eq!(c.steal_rounds, 2);
    assert_eq!(rt.block_on(|| 7), 7);
}

#[test]
fn a_bad_per_goroutine_stack_size_is_an_error() {
    Runtime::builder().procs(1).build().unwrap().block_on(|| {
        let e = gort::GoroutineBuilder::new()
            .stack_size(1)
            .spawn(|| ())
            .unwrap_err();
        assert_eq!(e, gort::SpawnError::InvalidStackSize(1));
        assert!(e.to_string().contains("stack size"));
    });
}

/// Re-runs one test of this binary in a child process with `GORT_PROCS` set (the
/// environment is process-wide, so it is never changed in the test process itself).
fn child(test: &str, value: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", "1")
        .env("GORT_PROCS", value)
        .output()
        .unwrap()
}

fn in_child() -> bool {
    std::env::var_os("GORT_TEST_CHILD").is_some()
}

#[test]
fn gort_procs_overrides_the_default_but_not_an_explicit_setting() {
    if in_child() {
        let want: usize = std::env::var("GORT_PROCS").unwrap().parse().unwrap();
        assert_eq!(Runtime::new().unwrap().config().procs, want);
        assert_eq!(
            Runtime::builder().procs(2).build().unwrap().config().procs,
            2
        );
        return;
    }
    let out = child(
        "gort_procs_overrides_the_default_but_not_an_explicit_setting",
        "3",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_bad_gort_procs_is_a_clear_error() {
    if in_child() {
        let e = Runtime::new().unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Env {
                    var: "GORT_PROCS",
                    ..
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("GORT_PROCS"), "{msg}");
        // `gort::run` panics with that message.
        let p = std::panic::catch_unwind(|| gort::run(|| ())).unwrap_err();
        assert!(p.downcast_ref::<String>().unwrap().contains("GORT_PROCS"));
        return;
    }
    for bad in ["abc", "0", "-1", ""] {
        let out = child("a_bad_gort_procs_is_a_clear_error", bad);
        assert!(
            out.status.success(),
            "GORT_PROCS={bad:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn the_default_procs_is_the_usable_cpu_count() {
    if std::env::var_os("GORT_PROCS").is_some() {
        return; // set by whoever runs the tests; covered by the child-process tests
    }
    let n = std::thread::available_parallelism().unwrap().get();
    assert_eq!(Runtime::new().unwrap().config().procs, n);
}

#[test]
fn gort_stack_policy_selects_the_guard_and_a_bad_value_is_an_error() {
    const NAME: &str = "gort_stack_policy_selects_the_guard_and_a_bad_value_is_an_error";
    if in_child() {
        match std::env::var("GORT_STACK_POLICY").unwrap().as_str() {
            "mprotect" => {
                let rt = Runtime::new().unwrap();
                assert_eq!(rt.config().stack_policy, gort::StackPolicy::Mprotect);
                assert_eq!(rt.block_on(|| gort::spawn(|| 7).join().unwrap()), 7);
                let explicit = Runtime::builder()
                    .stack_policy(gort::StackPolicy::Canary)
                    .build()
                    .unwrap();
                assert_eq!(explicit.config().stack_policy, gort::StackPolicy::Canary);
            }
            _ => {
                let e = Runtime::new().unwrap_err();
                assert!(
                    matches!(
                        e,
                        ConfigError::Env {
                            var: "GORT_STACK_POLICY",
                            ..
                        }
                    ),
                    "{e:?}"
                );
            }
        }
        return;
    }
    for value in ["mprotect", "guard"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env("GORT_TEST_CHILD", "1")
            .env("GORT_STACK_POLICY", value)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "GORT_STACK_POLICY={value}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

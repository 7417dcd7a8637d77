//! Chaos scheduling: it perturbs (yields the program never asked for, wakeups off
//! `runnext`), programs still compute the same results, the seed is announced once per
//! process, and a bad `GORT_CHAOS` is an error.

use std::process::Command;

use gort::{chan, Builder, ConfigError};

/// Unbuffered ping-pong plus a fan-in; returns (result, yields, global pulls).
fn workload(chaos: Option<u64>) -> (u64, u64, u64) {
    let rt = Builder::new().procs(2).chaos(chaos).build().unwrap();
    let sum = rt.block_on(|| {
        let (ping, pong) = (chan::bounded::<u64>(0), chan::bounded::<u64>(0));
        let (ptx, prx) = ping;
        let (qtx, qrx) = pong;
        let echo = gort::spawn(move || {
            for v in prx {
                qtx.send(v + 1).unwrap();
            }
        });
        let mut x = 0;
        for _ in 0..5_000 {
            ptx.send(x).unwrap();
            x = qrx.recv().unwrap();
        }
        drop(ptx);
        echo.join().unwrap();
        let (tx, rx) = chan::unbounded::<u64>();
        for i in 0..100 {
            let tx = tx.clone();
            gort::spawn(move || tx.send(i).unwrap());
        }
        drop(tx);
        x + rx.into_iter().sum::<u64>()
    });
    let m = rt.metrics().total;
    (sum, m.yields, m.global_pulls)
}

#[test]
fn chaos_perturbs_scheduling_but_not_results() {
    let (calm, calm_yields, _) = workload(None);
    assert_eq!(calm, 5_000 + 4_950);
    assert_eq!(calm_yields, 0, "the program itself never yields");
    for seed in [1, 2, 3] {
        let (sum, yields, pulls) = workload(Some(seed));
        assert_eq!(sum, calm, "seed {seed}");
        assert!(yields > 0, "seed {seed}: chaos yields at scheduling points");
        assert!(
            pulls > 0,
            "seed {seed}: chaos moves wakeups to the global queue"
        );
    }
}

#[test]
fn gort_chaos_is_announced_once_and_a_bad_value_is_an_error() {
    match std::env::var("GORT_CHAOS").ok().as_deref() {
        Some("42") if std::env::var_os("GORT_TEST_CHILD").is_some() => {
            for _ in 0..3 {
                assert_eq!(gort::Runtime::new().unwrap().config().chaos, Some(42));
            }
            let explicit = Builder::new().chaos(None).build().unwrap();
            assert_eq!(explicit.config().chaos, None, "an explicit setting wins");
            return;
        }
        Some("abc") if std::env::var_os("GORT_TEST_CHILD").is_some() => {
            let e = gort::Runtime::new().unwrap_err();
            assert!(
                matches!(
                    e,
                    ConfigError::Env {
                        var: "GORT_CHAOS",
                        ..
                    }
                ),
                "{e:?}"
            );
            return;
        }
        _ => {}
    }
    for value in ["42", "abc"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "gort_chaos_is_announced_once_and_a_bad_value_is_an_error",
                "--nocapture",
            ])
            .env("GORT_TEST_CHILD", "1")
            .env("GORT_CHAOS", value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "GORT_CHAOS={value}: {stderr}");
        let announced = stderr.matches("gort: chaos mode, seed 42").count();
        assert_eq!(announced, usize::from(value == "42"), "{stderr}");
    }
}

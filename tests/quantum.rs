//! `Builder::quantum` (or a policy's `quantum`): a run that has lasted its quantum yields
//! at the next `checkpoint`, with no help from sysmon.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use gort::Runtime;

/// Two goroutines on one P spin, calling only `checkpoint`, until each has seen the
/// other make progress `turns` times. Sysmon never asks (its threshold is an hour), so
/// only the quantum can switch them. Returns the yields made.
fn alternate(quantum: Duration, turns: u64) -> u64 {
    alternate_with(
        Runtime::builder()
            .policy(gort::policy::BuiltIn::Go)
            .quantum(quantum),
        turns,
    )
}

/// Go's policy with a quantum, stated as an outside policy (every other decision is the
/// trait's default, which is Go's).
struct GoWithQuantum(Duration);

impl gort::policy::Policy for GoWithQuantum {
    fn name(&self) -> &str {
        "go-with-quantum"
    }
    fn quantum(&self) -> Option<Duration> {
        Some(self.0)
    }
}

fn alternate_with(builder: gort::Builder, turns: u64) -> u64 {
    let rt = builder
        .procs(1)
        .chaos(None) // chaos would yield at checkpoints on its own
        .hog_threshold(Duration::from_secs(3600))
        .build()
        .unwrap();
    rt.block_on(move || {
        let progress = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let done = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let hs: Vec<_> = (0..2)
            .map(|me| {
                let (p, done) = (progress.clone(), done.clone());
                gort::spawn(move || {
                    let (mut seen, mut last) = (0, p[1 - me].load(SeqCst));
                    // Count `turns` changes of the other's progress, then keep making
                    // progress until the other has counted its own.
                    while seen < turns || !done[1 - me].load(SeqCst) {
                        p[me].fetch_add(1, SeqCst);
                        let now = p[1 - me].load(SeqCst);
                        if now != last {
                            seen += 1;
                            last = now;
                            if seen == turns {
                                done[me].store(true, SeqCst);
                            }
                        }
                        gort::checkpoint();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let m = gort::metrics();
        assert_eq!(m.preempt_requests, 0, "sysmon never asked");
        m.total.yields
    })
}

#[test]
fn a_quantum_switches_spinning_goroutines_at_checkpoints() {
    let yields = alternate(Duration::from_micros(50), 20);
    assert!(yields >= 20, "{yields} yields");
}

#[test]
fn a_policy_sets_the_quantum_too() {
    let policy = GoWithQuantum(Duration::from_micros(50));
    let b = Runtime::builder().policy(policy);
    assert_eq!(b.config().unwrap().quantum, Some(Duration::from_micros(50)));
    let yields = alternate_with(b, 20);
    assert!(yields >= 20, "{yields} yields");
}

#[test]
fn a_zero_quantum_is_a_config_error() {
    let e = Runtime::builder()
        .quantum(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("quantum"), "{e}");
}

//! Scheduling policies: every built-in policy, and one defined here (outside the crate),
//! runs the same scenarios to the right results (spawn trees, channels, locks, timers,
//! `blocking`, sockets, yield fairness, deadlock detection), and each leaves its own
//! signature in the counters. `GORT_POLICY` selects a built-in by name; an unknown name is
//! an error listing the valid ones. (`.ci/run` also runs the whole suite once per
//! built-in policy through `GORT_POLICY`.)

#[path = "support/bounded.rs"]
mod bounded;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bounded::within;
use gort::policy::{BuiltIn, Place, Policy, Steal, View};
use gort::{chan, Builder, ConfigError, Metrics, RunError};

/// Spawns go to the next P's inbox, wakeups to the local tail, yields to the global
/// queue, and nobody steals: a policy only an outside crate would write, counting how
/// often the runtime asks it.
#[derive(Clone, Default)]
struct NextP(Arc<Asked>);

/// How often the runtime asked each question.
#[derive(Default)]
struct Asked {
    spawned: AtomicU64,
    woken: AtomicU64,
    yielded: AtomicU64,
}

impl Policy for NextP {
    fn name(&self) -> &str {
        "next-p"
    }
    fn spawned(&self, at: &View<'_>) -> Place {
        self.0.spawned.fetch_add(1, SeqCst);
        Place::P((at.current().unwrap_or(0) + 1) % at.procs())
    }
    fn woken(&self, _at: &View<'_>) -> Place {
        self.0.woken.fetch_add(1, SeqCst);
        Place::LocalTail
    }
    fn yielded(&self, _at: &View<'_>) -> Place {
        self.0.yielded.fetch_add(1, SeqCst);
        Place::Global
    }
    fn steal(&self) -> Steal {
        Steal {
            rounds: 0,
            ..Steal::GO
        }
    }
}

/// Every policy under test: the built-ins, then the outside one.
fn policies() -> Vec<&'static str> {
    let mut all = BuiltIn::NAMES.to_vec();
    all.push("next-p");
    all
}

fn runtime(policy: &str, procs: usize) -> gort::Runtime {
    let b = Builder::new().procs(procs).chaos(None);
    let b = match BuiltIn::by_name(policy) {
        Ok(p) => b.policy(p),
        Err(_) => b.policy(NextP::default()),
    };
    b.build().unwrap()
}

/// Runs `scenario` on a fresh runtime per policy, bounded in time, checks its result;
/// returns each policy's metrics.
fn for_each_policy(procs: usize, scenario: fn() -> u64, expect: u64) -> Vec<(String, Metrics)> {
    policies()
        .into_iter()
        .map(|name| {
            within(Duration::from_secs(60), move || {
                let rt = runtime(name, procs);
                assert_eq!(rt.config().policy.name(), name);
                assert_eq!(rt.block_on(scenario), expect, "policy {name}");
                (name.to_string(), rt.metrics())
            })
        })
        .collect()
}

fn tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let hs: Vec<_> = (0..4)
        .map(|_| gort::spawn(move || tree(depth - 1)))
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn every_policy_runs_a_spawn_tree() {
    for (name, m) in for_each_policy(3, || tree(5), 1024) {
        assert!(m.total.spawned >= 1364, "{name}: {:?}", m.total);
    }
}

#[test]
fn every_policy_passes_values_through_channels_without_loss() {
    fn pipeline() -> u64 {
        let (tx, rx) = chan::bounded::<u64>(4);
        let (out_tx, out_rx) = chan::unbounded::<u64>();
        let producers: Vec<_> = (0..4u64)
            .map(|k| {
                let tx = tx.clone();
                gort::spawn(move || (0..500).for_each(|i| tx.send(k * 1000 + i).unwrap()))
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let (rx, out) = (rx.clone(), out_tx.clone());
                gort::spawn(move || rx.iter().for_each(|v| out.send(v).unwrap()))
            })
            .collect();
        drop((rx, out_tx));
        producers.into_iter().for_each(|h| h.join().unwrap());
        consumers.into_iter().for_each(|h| h.join().unwrap());
        let mut got: Vec<u64> = out_rx.iter().collect();
        got.sort_unstable();
        let want: Vec<u64> = (0..4u64)
            .flat_map(|k| (0..500).map(move |i| k * 1000 + i))
            .collect();
        assert_eq!(got, want, "each value exactly once");
        got.len() as u64
    }
    for_each_policy(2, pipeline, 2000);
}

#[test]
fn every_policy_keeps_a_mutex_counter_exact() {
    fn counter() -> u64 {
        let n = Arc::new(gort::sync::Mutex::new(0u64));
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let n = n.clone();
                gort::spawn(move || {
                    for i in 0..500 {
                        *n.lock() += 1;
                        if i % 7 == 0 {
                            gort::yield_now();
                        }
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let v = *n.lock();
        v
    }
    for_each_policy(2, counter, 4000);
}

#[test]
fn every_policy_fires_timers_in_deadline_order() {
    fn sleepers() -> u64 {
        let order = Arc::new(gort::sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = [30u64, 10, 20, 0]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                gort::spawn(move || {
                    gort::time::sleep(Duration::from_millis(ms));
                    order.lock().push(ms);
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let got = order.lock().clone();
        assert_eq!(got, vec![0, 10, 20, 30]);
        got.iter().sum()
    }
    for_each_policy(2, sleepers, 60);
}

#[test]
fn every_policy_runs_blocking_calls_and_sockets() {
    fn io() -> u64 {
        let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        gort::spawn(move || {
            for _ in 0..4 {
                let (mut s, _) = l.accept().unwrap();
                gort::spawn(move || {
                    let mut b = [0u8; 8];
                    s.read_exact(&mut b).unwrap();
                    s.write_all(&b).unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..4u64)
            .map(|i| {
                gort::spawn(move || {
                    gort::blocking(|| std::thread::sleep(Duration::from_millis(2)));
                    let mut s = gort::net::TcpStream::connect(addr).unwrap();
                    s.write_all(&i.to_le_bytes()).unwrap();
                    let mut b = [0u8; 8];
                    s.read_exact(&mut b).unwrap();
                    u64::from_le_bytes(b)
                })
            })
            .collect();
        clients.into_iter().map(|h| h.join().unwrap()).sum()
    }
    for_each_policy(2, io, 6);
}

#[test]
fn under_every_policy_a_yielding_loop_lets_others_run() {
    fn fairness() -> u64 {
        let flag = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..3)
            .map(|_| {
                let flag = flag.clone();
                gort::spawn(move || {
                    while !flag.load(SeqCst) {
                        gort::yield_now();
                    }
                    1
                })
            })
            .collect();
        let setter = {
            let flag = flag.clone();
            gort::spawn(move || {
                gort::time::sleep(Duration::from_millis(1));
                flag.store(true, SeqCst);
            })
        };
        setter.join().unwrap();
        spinners.into_iter().map(|h| h.join().unwrap()).sum()
    }
    for_each_policy(2, fairness, 3);
}

#[test]
fn under_every_policy_a_deadlock_is_reported() {
    for name in policies() {
        let rt = runtime(name, 2);
        let r = within(Duration::from_secs(30), move || {
            rt.try_block_on(|| {
                let (_tx, rx) = chan::bounded::<u8>(0);
                let _ = rx.recv();
            })
        });
        assert!(matches!(r, Err(RunError::Deadlock(_))), "{name}: {r:?}");
    }
}

#[test]
fn each_policy_leaves_its_signature_in_the_counters() {
    fn ping_pong() -> u64 {
        let (a_tx, a_rx) = chan::bounded::<u64>(0);
        let (b_tx, b_rx) = chan::bounded::<u64>(0);
        let peer = gort::spawn(move || {
            for v in a_rx.iter() {
                b_tx.send(v + 1).unwrap();
            }
        });
        let mut v = 0;
        for _ in 0..2000 {
            a_tx.send(v).unwrap();
            v = b_rx.recv().unwrap();
        }
        drop(a_tx);
        peer.join().unwrap();
        // A burst of spawns for the thieves.
        v + tree(4) - 256
    }
    let by_name: std::collections::HashMap<String, Metrics> =
        for_each_policy(2, ping_pong, 2000).into_iter().collect();
    let m = |n: &str| &by_name[n].total;
    assert!(m("go").runnext_runs > 1000, "go: {:?}", m("go"));
    assert!(m("tokio").runnext_runs > 0, "tokio: {:?}", m("tokio"));
    assert_eq!(m("no-runnext").runnext_runs, 0, "no-runnext");
    for n in ["global-fifo", "work-sharing", "next-p"] {
        assert_eq!(m(n).steals, 0, "{n} never steals");
    }
    let fifo = m("global-fifo");
    assert!(
        fifo.global_pulls >= fifo.spawned,
        "global-fifo runs everything from the global queue: {fifo:?}"
    );
    let one = m("steal-one");
    assert_eq!(
        one.stolen, one.steals,
        "steal-one takes one per steal: {one:?}"
    );
    // The outside policy sent spawns to the other P's inbox, so both Ps ran goroutines
    // although nobody steals.
    let next_p = &by_name["next-p"];
    assert!(
        next_p.procs.iter().all(|p| p.switches > 0),
        "next-p: {:?}",
        next_p.procs
    );
}

#[test]
fn the_runtime_consults_an_outside_policy_at_each_decision() {
    let policy = NextP::default();
    let rt = Builder::new()
        .procs(2)
        .chaos(None)
        .policy(policy.clone())
        .build()
        .unwrap();
    assert_eq!(rt.config().policy.name(), "next-p");
    assert_eq!(
        rt.config().steal_rounds,
        0,
        "the policy's steal plan applies"
    );
    let sum = rt.block_on(|| {
        let (tx, rx) = chan::bounded::<u64>(0);
        let h = gort::spawn(move || rx.iter().sum::<u64>());
        for i in 0..100 {
            tx.send(i).unwrap();
            gort::yield_now();
        }
        drop(tx);
        h.join().unwrap()
    });
    assert_eq!(sum, 4950);
    let asked = &policy.0;
    assert!(asked.spawned.load(SeqCst) >= 1);
    assert!(
        asked.woken.load(SeqCst) >= 50,
        "{}",
        asked.woken.load(SeqCst)
    );
    assert!(asked.yielded.load(SeqCst) >= 100);
}

#[test]
fn builder_knobs_override_the_policy_and_bad_policies_are_rejected() {
    let c = Builder::new()
        .policy(BuiltIn::Tokio)
        .steal_rounds(2)
        .config()
        .unwrap();
    assert_eq!(c.steal_rounds, 2, "an explicit knob wins");
    assert_eq!(
        c.global_queue_interval, 31,
        "the rest comes from the policy"
    );
    assert_eq!(c.runnext_limit, 3);

    struct ZeroLimit;
    impl Policy for ZeroLimit {
        fn name(&self) -> &str {
            "zero-limit"
        }
        fn runnext_limit(&self) -> Option<u32> {
            Some(0)
        }
    }
    let e = Builder::new().policy(ZeroLimit).config().unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Invalid {
                setting: "policy",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn gort_policy_selects_a_built_in_and_an_unknown_name_lists_the_valid_ones() {
    if std::env::var_os("GORT_TEST_CHILD").is_some() {
        let want = std::env::var("GORT_POLICY").unwrap();
        match BuiltIn::by_name(&want) {
            Ok(b) => {
                let rt = gort::Runtime::new().unwrap();
                assert_eq!(rt.config().policy.name(), b.name());
                let explicit = Builder::new().policy(BuiltIn::Go).build().unwrap();
                assert_eq!(explicit.config().policy.name(), "go", "the builder wins");
            }
            Err(_) => {
                let e = gort::Runtime::new().unwrap_err();
                let ConfigError::Env { var, reason, .. } = &e else {
                    panic!("{e:?}")
                };
                assert_eq!(*var, "GORT_POLICY");
                for n in BuiltIn::NAMES {
                    assert!(reason.contains(n), "{e} lacks {n}");
                }
            }
        }
        return;
    }
    let children = AtomicUsize::new(0);
    for value in ["work-sharing", "tokio", "fifo"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "gort_policy_selects_a_built_in_and_an_unknown_name_lists_the_valid_ones",
                "--nocapture",
            ])
            .env("GORT_TEST_CHILD", "1")
            .env("GORT_POLICY", value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "GORT_POLICY={value}: {stderr}");
        assert!(stdout.contains("1 passed"), "{stdout}");
        children.fetch_add(1, SeqCst);
    }
    assert_eq!(children.load(SeqCst), 3);
}

/// A goroutine put in its P's own queue wakes an idle M only if that M could steal it:
/// without stealing (a policy's `steal().rounds == 0`, or the knob), a ping-pong on a
/// 2-P runtime never starts a second M, where Go's policy starts one to look for work.
#[test]
fn without_thieves_local_work_wakes_no_idle_m() {
    fn ping_pong() -> u64 {
        let (a_tx, a_rx) = chan::bounded::<u64>(0);
        let (b_tx, b_rx) = chan::bounded::<u64>(0);
        let peer = gort::spawn(move || a_rx.iter().for_each(|v| b_tx.send(v + 1).unwrap()));
        let mut v = 0;
        for _ in 0..500 {
            a_tx.send(v).unwrap();
            v = b_rx.recv().unwrap();
        }
        drop(a_tx);
        peer.join().unwrap();
        v
    }
    let threads = |b: Builder| {
        let rt = b.procs(2).chaos(None).build().unwrap();
        assert_eq!(rt.block_on(ping_pong), 500);
        rt.metrics().threads
    };
    let go = threads(Builder::new().policy(BuiltIn::Go));
    assert!(go >= 2, "Go's policy wakes a thief: {go} threads");
    for b in [
        Builder::new().policy(BuiltIn::Go).steal_rounds(0),
        Builder::new().policy(BuiltIn::WorkSharing),
    ] {
        assert_eq!(threads(b), 1, "nobody can steal: one M is enough");
    }
}

/// Without thieves, a spawn burst that overflows the P's ring spills half of it to the
/// global queue, and that still wakes an idle M, which takes its share from there.
#[test]
fn without_thieves_a_ring_overflow_still_wakes_an_m_for_the_global_queue() {
    let rt = Builder::new()
        .procs(2)
        .chaos(None)
        .policy(BuiltIn::Go)
        .steal_rounds(0)
        .build()
        .unwrap();
    let sum = within(Duration::from_secs(60), move || {
        let sum = rt.block_on(|| {
            let hs: Vec<_> = (0..2000u64)
                .map(|i| {
                    gort::spawn(move || {
                        // About 10 µs of work, no scheduling point.
                        let t = std::time::Instant::now();
                        while t.elapsed() < Duration::from_micros(10) {
                            std::hint::spin_loop();
                        }
                        i
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        let m = rt.metrics();
        assert!(m.total.overflows > 0, "the ring overflowed: {:?}", m.total);
        assert!(
            m.procs.iter().all(|p| p.completed > 0),
            "both Ps ran goroutines: {:?}",
            m.procs
        );
        sum
    });
    assert_eq!(sum, 1999 * 2000 / 2);
}

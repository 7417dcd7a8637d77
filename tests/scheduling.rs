//! Scheduling behaviour: where goroutines go, in which order they run, that work spreads
//! by stealing, that nothing starves and no wakeup is lost, and that the knobs act.
//! These assert the default policy's decisions, so their runtimes turn chaos scheduling
//! off (`chaos(None)`) and pin Go's policy (`policy(BuiltIn::Go)`) even when the suite
//! runs under `GORT_CHAOS` or `GORT_POLICY`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gort::Runtime;

#[path = "support/bounded.rs"]
mod bounded;
use bounded::within;

fn busy(iters: u64) -> u64 {
    let mut x = 0u64;
    for i in 0..iters {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    x
}

/// A goroutine spawns 10,000 CPU-bound children on 2 Ps; returns the metrics and how
/// many distinct threads ran children.
fn spawn_cpu_bound_children(queue_capacity: usize) -> (gort::Metrics, usize) {
    let rt = Runtime::builder()
        .chaos(None)
        .policy(gort::policy::BuiltIn::Go)
        .procs(2)
        .local_queue_capacity(queue_capacity)
        .build()
        .unwrap();
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let t = threads.clone();
    rt.block_on(move || {
        let hs: Vec<_> = (0..10_000)
            .map(|_| {
                let t = t.clone();
                gort::spawn(move || {
                    t.lock().unwrap().insert(std::thread::current().id());
                    busy(20_000)
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let n = threads.lock().unwrap().len();
    (rt.metrics(), n)
}

#[test]
fn cpu_bound_children_spread_over_both_procs_by_stealing() {
    // A ring large enough never to overflow: the idle P can only get work by stealing.
    let (m, threads) = spawn_cpu_bound_children(16_384);
    assert_eq!(m.total.overflows, 0, "{m:?}");
    assert!(m.total.steals > 0, "no steals: {m:?}");
    assert!(m.total.stolen >= m.total.steals);
    assert!(
        m.procs.iter().all(|p| p.switches > 0),
        "a P ran nothing: {m:?}"
    );
    assert_eq!(threads, 2, "both Ms ran goroutines");
    // Go's 256-slot ring overflows into the global queue, which spreads work too.
    let (m, threads) = spawn_cpu_bound_children(256);
    assert!(m.total.overflows > 0, "{m:?}");
    assert!(m.total.steals + m.total.global_pulls > 1, "{m:?}");
    assert_eq!(threads, 2, "both Ms ran goroutines");
}

#[test]
fn without_stealing_a_single_producer_keeps_its_work() {
    let rt = Runtime::builder()
        .chaos(None)
        .policy(gort::policy::BuiltIn::Go)
        .procs(2)
        .steal_rounds(0)
        .build()
        .unwrap();
    rt.block_on(|| {
        let hs: Vec<_> = (0..1000).map(|_| gort::spawn(|| busy(1000))).collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let m = rt.metrics();
    assert_eq!(m.total.steals, 0, "{m:?}");
    assert!(m.total.completed >= 1000, "{m:?}");
}

/// Order of execution on one P of three goroutines spawned in a row, A, B, C.
fn spawn_order(runnext: bool) -> Vec<char> {
    let rt = Runtime::builder()
        .chaos(None)
        .policy(gort::policy::BuiltIn::Go)
        .procs(1)
        .runnext(runnext)
        .build()
        .unwrap();
    rt.block_on(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = ['A', 'B', 'C']
            .into_iter()
            .map(|c| {
                let o = order.clone();
                gort::spawn(move || o.lock().unwrap().push(c))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let v = order.lock().unwrap().clone();
        v
    })
}

#[test]
fn runnext_runs_the_latest_spawn_first_and_the_knob_turns_it_off() {
    // runnext holds C (the last spawn); A and B were kicked to the tail in order.
    assert_eq!(spawn_order(true), vec!['C', 'A', 'B']);
    assert_eq!(spawn_order(false), vec!['A', 'B', 'C']);
}

/// Two goroutines hand control back and forth through `runnext` on one P while a third
/// waits in the ring. Returns whether the third ran before `limit` hand-offs, and how
/// many hand-offs happened.
fn pingpong_until_third_runs(slice: Duration, limit: u64) -> (bool, u64) {
    let rt = Runtime::builder()
        .chaos(None)
        .policy(gort::policy::BuiltIn::Go)
        .procs(1)
        .time_slice(slice)
        .build()
        .unwrap();
    rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let slot = Arc::new(Mutex::new(None::<gort::Goroutine>));
        let main = gort::current();
        let (s, sl) = (stop.clone(), slot.clone());
        let partner = gort::spawn(move || {
            *sl.lock().unwrap() = Some(gort::current());
            loop {
                main.unpark();
                gort::park();
                if s.load(Acquire) {
                    break;
                }
            }
        });
        let partner_g = loop {
            if let Some(g) = slot.lock().unwrap().clone() {
                break g;
            }
            gort::park();
        };
        // Spawned into runnext, then kicked to the ring's tail by the partner's wakeup.
        let third_ran = Arc::new(AtomicBool::new(false));
        let tr = third_ran.clone();
        let third = gort::spawn(move || tr.store(true, Release));
        let mut rounds = 0;
        while !third_ran.load(Acquire) && rounds < limit {
            rounds += 1;
            partner_g.unpark();
            gort::park();
        }
        let ran = third_ran.load(Acquire);
        stop.store(true, Release);
        partner_g.unpark();
        partner.join().unwrap();
        third.join().unwrap();
        (ran, rounds)
    })
}

#[test]
fn an_inherited_time_slice_expires_so_the_queue_is_not_starved() {
    let (ran, rounds) = within(Duration::from_secs(60), || {
        pingpong_until_third_runs(Duration::from_millis(2), 50_000_000)
    });
    assert!(ran, "the third goroutine starved for {rounds} hand-offs");
    assert!(
        rounds > 1,
        "the pair ran in runnext first ({rounds} hand-offs)"
    );
    // With a slice that never expires, the pair keeps the P for as long as it likes.
    let (ran, rounds) = within(Duration::from_secs(60), || {
        pingpong_until_third_runs(Duration::from_secs(3600), 20_000)
    });
    assert!(!ran, "without expiry the ring waits ({rounds} hand-offs)");
}

/// One P kept busy forever by two yielding goroutines; a plain thread then puts a
/// goroutine in the global queue. Returns the yield count when it was queued and when
/// it ran.
fn yields_before_global_goroutine_runs(interval: u32, limit: u64) -> (u64, u64) {
    let rt = Runtime::builder()
        .chaos(None)
        .policy(gort::policy::BuiltIn::Go)
        .procs(1)
        .global_queue_interval(interval)
        .build()
        .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let yields = Arc::new(AtomicU64::new(0));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let (f, y) = (flag.clone(), yields.clone());
            rt.spawn(move || {
                while !f.load(Acquire) && y.load(Relaxed) < limit {
                    y.fetch_add(1, Relaxed);
                    gort::yield_now();
                }
            })
        })
        .collect();
    // Wait until both spinners have left the global queue for the P's local ring (the
    // second one is pulled by a fairness check too).
    while yields.load(Relaxed) < 4 || rt.metrics().global_queue_len > 0 {
        std::thread::yield_now();
    }
    let (f, y) = (flag.clone(), yields.clone());
    let g = rt.spawn(move || {
        f.store(true, Release);
        y.load(Relaxed)
    });
    // Read after the push: a delay of this thread only shrinks the difference.
    let queued_at = yields.load(Relaxed);
    for h in spinners {
        h.join().unwrap();
    }
    (queued_at, g.join().unwrap())
}

#[test]
fn the_global_queue_is_polled_every_61_ticks_even_when_local_work_never_ends() {
    let (queued, ran) = within(Duration::from_secs(60), || {
        yields_before_global_goroutine_runs(61, 1_000_000)
    });
    let waited = ran.saturating_sub(queued);
    assert!(waited <= 62, "the global goroutine waited {waited} yields");
    // Without the fairness tick it waits until the local work ends.
    let (_, ran) = within(Duration::from_secs(60), || {
        yields_before_global_goroutine_runs(u32::MAX, 100_000)
    });
    assert_eq!(ran, 100_000, "it ran only once the local work ended");
}

#[test]
fn a_full_local_queue_spills_half_to_the_global_queue_and_loses_nothing() {
    let rt = Runtime::builder()
        .chaos(None)
        .policy(gort::policy::BuiltIn::Go)
        .procs(1)
        .local_queue_capacity(4)
        .build()
        .unwrap();
    let sum = rt.block_on(|| {
        let hs: Vec<_> = (0..100u64).map(|i| gort::spawn(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, 4950);
    let m = rt.metrics();
    assert!(m.total.overflows > 0, "{m:?}");
    assert!(m.total.global_pulls > 0, "{m:?}");
}

#[test]
fn wakeups_from_plain_threads_are_never_lost() {
    // Between spawns the Ms go idle (spinning, then parked): each spawn must wake one.
    within(Duration::from_secs(120), || {
        let rt = Runtime::builder()
            .chaos(None)
            .policy(gort::policy::BuiltIn::Go)
            .procs(2)
            .build()
            .unwrap();
        for i in 0..20_000u32 {
            assert_eq!(rt.spawn(move || i).join().unwrap(), i);
        }
    });
}

/// Two goroutines take turns `rounds` times through park/unpark.
fn ping_pong(rounds: u64) {
    let turn = Arc::new(AtomicU64::new(0));
    let slot = Arc::new(Mutex::new(None::<gort::Goroutine>));
    let me = gort::current();
    let (t, sl) = (turn.clone(), slot.clone());
    let other = gort::spawn(move || {
        *sl.lock().unwrap() = Some(gort::current());
        me.unpark();
        for i in 0..rounds {
            while t.load(Acquire) != 2 * i + 1 {
                gort::park();
            }
            t.store(2 * i + 2, Release);
            me.unpark();
        }
    });
    let og = loop {
        if let Some(g) = slot.lock().unwrap().clone() {
            break g;
        }
        gort::park();
    };
    for i in 0..rounds {
        turn.store(2 * i + 1, Release);
        og.unpark();
        while turn.load(Acquire) != 2 * i + 2 {
            gort::park();
        }
    }
    other.join().unwrap();
}

#[test]
fn cross_proc_park_unpark_ping_pong_never_loses_a_wakeup() {
    within(Duration::from_secs(120), || {
        for order in [
            gort::VictimOrder::RandomCoprime,
            gort::VictimOrder::RandomStart,
            gort::VictimOrder::RoundRobin,
        ] {
            let rt = Runtime::builder()
                .chaos(None)
                .policy(gort::policy::BuiltIn::Go)
                .procs(2)
                .victim_order(order)
                .build()
                .unwrap();
            rt.block_on(|| {
                let hs: Vec<_> = (0..8).map(|_| gort::spawn(|| ping_pong(2000))).collect();
                for h in hs {
                    h.join().unwrap();
                }
            });
            let m = rt.metrics();
            assert!(m.total.parks > 0, "{m:?}");
        }
    });
}

#[test]
fn without_spinning_idle_ms_park_at_once_and_no_work_is_lost() {
    within(Duration::from_secs(120), || {
        let rt = Runtime::builder()
            .chaos(None)
            .policy(gort::policy::BuiltIn::Go)
            .procs(2)
            .spinning(gort::SpinningLimit::AtMost(0))
            .build()
            .unwrap();
        let sum = rt.block_on(|| {
            let hs: Vec<_> = (0..5_000u64)
                .map(|i| {
                    gort::spawn(move || {
                        busy(100);
                        i
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(sum, 4999 * 5000 / 2);
        for i in 0..2000u32 {
            assert_eq!(rt.spawn(move || i).join().unwrap(), i);
        }
        assert_eq!(rt.metrics().total.spins, 0);
    });
}

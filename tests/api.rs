//! The public API end to end: spawn/join, panics, scope, current, park/unpark, several
//! runtimes, plain-thread callers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};

fn rt(procs: usize) -> gort::Runtime {
    gort::Runtime::builder().procs(procs).build().unwrap()
}

#[test]
fn run_returns_the_main_goroutines_result() {
    let sum = gort::run(|| {
        let hs: Vec<_> = (0..1000u64).map(|i| gort::spawn(move || i * 2)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, 999_000);
}

#[test]
fn every_result_is_delivered_exactly_once() {
    let seen = rt(4).block_on(|| {
        let hs: Vec<_> = (0..20_000u32)
            .map(|i| {
                gort::spawn(move || {
                    if i % 3 == 0 {
                        gort::yield_now();
                    }
                    i
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(seen, (0..20_000).collect::<Vec<_>>());
}

#[test]
fn nested_spawns_from_many_goroutines_all_complete() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    rt(2).block_on(move || {
        let hs: Vec<_> = (0..100)
            .map(|_| {
                let c = c.clone();
                gort::spawn(move || {
                    let inner: Vec<_> = (0..100)
                        .map(|_| {
                            let c = c.clone();
                            gort::spawn(move || c.fetch_add(1, Relaxed))
                        })
                        .collect();
                    for h in inner {
                        h.join().unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert_eq!(count.load(Relaxed), 10_000);
}

#[test]
fn a_goroutine_panic_comes_back_from_join_and_the_runtime_keeps_going() {
    let rt = rt(2);
    let (err, after) = rt.block_on(|| {
        let n = std::hint::black_box(7);
        let bad = gort::spawn(move || -> u32 { panic!("boom {n}") });
        let err = bad.join().unwrap_err();
        let after = gort::spawn(|| 5).join().unwrap();
        (err.downcast_ref::<String>().cloned(), after)
    });
    assert_eq!(err.as_deref(), Some("boom 7"));
    assert_eq!(after, 5);
    assert_eq!(rt.block_on(|| 1 + 1), 2, "the runtime still works");
}

#[test]
fn a_panic_in_the_main_goroutine_propagates_out_of_run() {
    let r = std::panic::catch_unwind(|| gort::run(|| panic!("main failed")));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main failed"));
}

#[test]
fn scope_goroutines_borrow_from_the_caller() {
    let total = rt(2).block_on(|| {
        let data: Vec<u64> = (1..=100).collect();
        let sum = AtomicUsize::new(0);
        let mut out = [0u64; 4];
        gort::scope(|s| {
            for (i, slot) in out.iter_mut().enumerate() {
                let data = &data;
                let sum = &sum;
                s.spawn(move || {
                    let part: u64 = data[i * 25..(i + 1) * 25].iter().sum();
                    *slot = part;
                    sum.fetch_add(part as usize, Relaxed);
                });
            }
        });
        assert_eq!(out.iter().sum::<u64>(), 5050);
        sum.into_inner()
    });
    assert_eq!(total, 5050);
}

#[test]
fn scope_join_returns_values_and_unjoined_panics_panic_the_scope() {
    rt(2).block_on(|| {
        let v = 21;
        let r = gort::scope(|s| s.spawn(|| v * 2).join().unwrap());
        assert_eq!(r, 42);

        // A joined panic is handled by the caller and does not fail the scope.
        let handled = gort::scope(|s| s.spawn(|| panic!("inner")).join().is_err());
        assert!(handled);

        // An unjoined panic makes the scope panic after every goroutine finished.
        let finished = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gort::scope(|s| {
                s.spawn(|| panic!("unjoined"));
                s.spawn(|| {
                    gort::yield_now();
                    finished.fetch_add(1, Relaxed);
                });
            })
        }));
        assert!(r.is_err());
        assert_eq!(
            finished.load(Relaxed),
            1,
            "the scope waited for its goroutines"
        );
    });
}

#[test]
fn current_reports_id_and_name_and_builder_sets_them() {
    rt(1).block_on(|| {
        let me = gort::current();
        assert_eq!(me.name(), Some("main"));
        let h = gort::GoroutineBuilder::new()
            .name("worker-1")
            .stack_size(32 * 1024)
            .spawn(|| {
                let c = gort::current();
                (
                    c.id(),
                    c.name().map(str::to_owned),
                    c.spawn_site().file().to_owned(),
                )
            })
            .unwrap();
        let hid = h.id();
        let (id, name, file) = h.join().unwrap();
        assert_eq!(id, hid);
        assert_ne!(id, me.id());
        assert_eq!(name.as_deref(), Some("worker-1"));
        assert!(file.ends_with("api.rs"), "{file}");
    });
    assert!(
        gort::try_current().is_none(),
        "a plain thread is not a goroutine"
    );
}

#[test]
fn goroutine_ids_are_unique() {
    let ids = rt(2).block_on(|| {
        let hs: Vec<_> = (0..5000)
            .map(|_| gort::spawn(|| gort::current().id()))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<HashSet<_>>()
    });
    assert_eq!(ids.len(), 5000);
}

#[test]
fn is_finished_turns_true_once_the_goroutine_returned() {
    rt(1).block_on(|| {
        let h = gort::spawn(|| 3);
        // On one P the child cannot have run yet: we have not reached a scheduling point.
        assert!(!h.is_finished());
        while !h.is_finished() {
            gort::yield_now();
        }
        assert_eq!(h.join().unwrap(), 3);
    });
}

#[test]
fn park_waits_for_unpark_and_an_early_unpark_is_not_lost() {
    rt(2).block_on(|| {
        let flag = Arc::new(AtomicUsize::new(0));
        let me = gort::current();
        let f = flag.clone();
        let h = gort::spawn(move || {
            f.store(1, Release);
            me.unpark();
        });
        while flag.load(Acquire) == 0 {
            gort::park();
        }
        h.join().unwrap();

        // Unpark before park: the token makes the next park return at once.
        gort::current().unpark();
        gort::park();
    });
}

#[test]
fn join_from_a_plain_thread_blocks_that_thread() {
    let rt = rt(2);
    let h = rt.spawn(|| {
        for _ in 0..100 {
            gort::yield_now();
        }
        "done"
    });
    assert_eq!(h.join().unwrap(), "done");
    // Many plain threads joining goroutines of one runtime at once.
    let rt = Arc::new(rt);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let rt = rt.clone();
            std::thread::spawn(move || {
                (0..200)
                    .map(|i| rt.spawn(move || t * 1000 + i).join().unwrap())
                    .sum::<usize>()
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let expect: usize = (0..4).map(|t| t * 1000 * 200 + 199 * 200 / 2).sum();
    assert_eq!(total, expect);
}

#[test]
fn spawn_outside_a_runtime_says_what_to_do() {
    let err = gort::try_spawn(|| 1).unwrap_err();
    assert_eq!(err, gort::SpawnError::NoRuntime);
    let msg = err.to_string();
    assert!(msg.contains("outside a gort runtime"), "{msg}");
    assert!(msg.contains("gort::run"), "{msg}");
    let panic = std::panic::catch_unwind(|| gort::spawn(|| 1)).unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(text.contains("Runtime::spawn"), "{text}");
}

#[test]
fn yield_and_park_on_a_plain_thread_act_on_the_thread() {
    gort::yield_now();
    let t = std::thread::current();
    let h = std::thread::spawn(move || t.unpark());
    h.join().unwrap();
    gort::park(); // the token from the unpark above
}

#[test]
fn several_runtimes_run_at_once_with_their_own_threads() {
    let a = rt(2);
    let b = rt(1);
    let names = Arc::new(Mutex::new(HashSet::new()));
    let (na, nb) = (names.clone(), names.clone());
    let ha = a.spawn(move || {
        na.lock()
            .unwrap()
            .insert(("a", std::thread::current().id()));
        (0..1000)
            .map(|i| gort::spawn(move || i).join().unwrap())
            .sum::<u64>()
    });
    let hb = b.spawn(move || {
        nb.lock()
            .unwrap()
            .insert(("b", std::thread::current().id()));
        (0..1000)
            .map(|i| gort::spawn(move || i).join().unwrap())
            .sum::<u64>()
    });
    assert_eq!(ha.join().unwrap(), 499_500);
    assert_eq!(hb.join().unwrap(), 499_500);
    let names = names.lock().unwrap();
    let threads: HashSet<_> = names.iter().map(|(_, t)| *t).collect();
    assert_eq!(threads.len(), 2, "each runtime runs on its own threads");
    // A goroutine of runtime `b` can join a goroutine of runtime `a`.
    let a = Arc::new(a);
    let a2 = a.clone();
    let v = b.block_on(move || a2.spawn(|| 40).join().unwrap() + 2);
    assert_eq!(v, 42);
}

#[test]
fn metrics_count_spawns_and_completions() {
    let rt = rt(2);
    rt.block_on(|| {
        let hs: Vec<_> = (0..500).map(|_| gort::spawn(gort::yield_now)).collect();
        for h in hs {
            h.join().unwrap();
        }
        let m = gort::metrics();
        assert!(m.total.spawned >= 501, "{m:?}");
        assert!(m.total.yields >= 500, "{m:?}");
    });
    // The main goroutine's result is delivered just before its M counts it as
    // completed, so wait (bounded) for the count to settle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rt.metrics().total.completed < 501 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let m = rt.metrics();
    assert_eq!(m.total.spawned, 501, "500 + main");
    assert_eq!(m.total.completed, 501);
    assert_eq!(m.live_goroutines, 0);
    assert_eq!(m.procs.len(), 2);
    assert!(m.total.switches >= 1001, "{m:?}");
    assert!(m.stacks_allocated > 0);
    assert!(m.stack_guard.is_some());
}

//! Shutdown: goroutines still parked or queued when `run` returns are dropped, their
//! stacks unwound (destructors run) and nothing they held is leaked.

use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn parked_and_queued_goroutines_are_dropped_when_run_returns() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(());
    let (d, h) = (dropped.clone(), held.clone());
    gort::run(move || {
        // 100 goroutines parked forever, each owning a guard and a clone of `held`.
        for _ in 0..100 {
            let guard = CountOnDrop(d.clone());
            let h = h.clone();
            gort::spawn(move || {
                let _keep = (guard, h);
                loop {
                    gort::park();
                }
            });
        }
        // 100 goroutines that never start: their closures own guards too.
        let gate = gort::spawn(|| loop {
            gort::park();
        });
        drop(gate);
        for _ in 0..100 {
            let guard = CountOnDrop(d.clone());
            // Queued behind the others; the handle is dropped (detached).
            drop(gort::spawn(move || drop(guard)));
        }
        // Let the parked ones reach their park.
        for _ in 0..10 {
            gort::yield_now();
        }
        drop(h);
    });
    assert_eq!(
        dropped.load(SeqCst),
        200,
        "every guard was dropped exactly once"
    );
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "nothing the goroutines held leaked"
    );
}

#[test]
fn destructors_that_call_gort_during_teardown_do_not_hang() {
    struct JoinOnDrop(Option<gort::JoinHandle<()>>);
    impl Drop for JoinOnDrop {
        fn drop(&mut self) {
            // The goroutine it joins is parked forever: during teardown join says so.
            let r = self.0.take().unwrap().join();
            assert!(r.is_err());
            gort::park(); // returns at once during teardown
            gort::yield_now();
        }
    }
    gort::run(|| {
        let forever = gort::spawn(|| loop {
            gort::park();
        });
        let j = JoinOnDrop(Some(forever));
        gort::spawn(move || {
            let _j = j;
            loop {
                gort::park();
            }
        });
        gort::yield_now();
        gort::yield_now();
    });
}

#[test]
fn a_runtime_can_be_dropped_while_plain_threads_still_hold_handles() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let h = rt.spawn(|| loop {
        gort::park();
    });
    let g = rt.block_on(gort::current);
    drop(rt);
    assert!(!h.is_finished());
    g.unpark(); // a no-op on a dead runtime, not a crash
}

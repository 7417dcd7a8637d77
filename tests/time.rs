//! Sleeping goroutines: timers fire, in order, none lost, without holding threads.

use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gort::Runtime;

#[test]
fn sleep_lasts_at_least_its_duration_and_frees_the_thread() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(|| {
        let t = Instant::now();
        // While one goroutine sleeps, another one runs on the only P.
        let sleeper = gort::spawn(|| gort::time::sleep(Duration::from_millis(30)));
        let worker = gort::spawn(|| (0..1000u64).sum::<u64>());
        assert_eq!(worker.join().unwrap(), 499_500);
        assert!(
            !sleeper.is_finished(),
            "the worker ran while the sleeper slept"
        );
        sleeper.join().unwrap();
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(30), "{e:?}");
        assert!(e < Duration::from_secs(10), "{e:?}");
    });
}

#[test]
fn timers_fire_in_deadline_order() {
    // The order of the pushes is the order the woken goroutines run in, which chaos
    // scheduling shuffles on purpose.
    let rt = Runtime::builder().procs(1).chaos(None).build().unwrap();
    let order = rt.block_on(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now() + Duration::from_millis(20);
        // Spawned in scrambled order, deadlines 3 ms apart.
        let hs: Vec<_> = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]
            .into_iter()
            .map(|i| {
                let o = order.clone();
                gort::spawn(move || {
                    gort::time::sleep_until(start + Duration::from_millis(3 * i));
                    o.lock().unwrap().push(i);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let v = order.lock().unwrap().clone();
        v
    });
    assert_eq!(order, (0..10).collect::<Vec<_>>());
}

#[test]
fn sleep_on_a_plain_thread_sleeps_the_thread() {
    let t = Instant::now();
    gort::time::sleep(Duration::from_millis(5));
    assert!(t.elapsed() >= Duration::from_millis(5));
    gort::time::sleep_until(Instant::now() - Duration::from_millis(1)); // past: returns
}

#[test]
fn a_timer_on_an_idle_p_wakes_the_runtime() {
    // The only goroutine sleeps: every M goes idle, one of them as the timer M.
    let rt = Runtime::builder().procs(2).build().unwrap();
    for ms in [1, 5, 20] {
        let t = Instant::now();
        rt.block_on(move || gort::time::sleep(Duration::from_millis(ms)));
        assert!(t.elapsed() >= Duration::from_millis(ms));
    }
    // An earlier timer added while the timer M waits for a later one.
    rt.block_on(|| {
        let long = gort::spawn(|| gort::time::sleep(Duration::from_millis(300)));
        let t = Instant::now();
        gort::spawn(|| gort::time::sleep(Duration::from_millis(10)))
            .join()
            .unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(300),
            "the short sleep waited for the long one"
        );
        long.join().unwrap();
    });
}

#[test]
#[cfg_attr(debug_assertions, ignore = "long: run with --release")]
fn a_million_timers_at_the_same_instant_all_fire() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    rt.block_on(move || {
        let at = Instant::now() + Duration::from_millis(500);
        let hs: Vec<_> = (0..1_000_000)
            .map(|_| {
                let f = f.clone();
                gort::GoroutineBuilder::new()
                    .stack_size(16 * 1024)
                    .spawn(move || {
                        gort::time::sleep_until(at);
                        assert!(Instant::now() >= at);
                        f.fetch_add(1, Relaxed);
                    })
                    .unwrap()
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert_eq!(fired.load(Relaxed), 1_000_000);
}

#[test]
fn many_timers_with_mixed_deadlines_none_lost() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let n = rt.block_on(|| {
        let hs: Vec<_> = (0..10_000u64)
            .map(|i| gort::spawn(move || gort::time::sleep(Duration::from_micros(i % 2000))))
            .collect();
        hs.into_iter()
            .map(|h| h.join().is_ok() as usize)
            .sum::<usize>()
    });
    assert_eq!(n, 10_000);
}

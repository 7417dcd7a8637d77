//! "all goroutines are asleep - deadlock!" and goroutine dumps.

use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{mpsc, Arc};

use gort::{RunError, Runtime};

fn park_forever() {
    loop {
        gort::park();
    }
}

#[test]
fn a_cycle_of_parked_goroutines_is_reported_with_a_dump() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let err = rt
        .try_block_on(|| {
            let a = gort::GoroutineBuilder::new()
                .name("a")
                .spawn(park_forever)
                .unwrap();
            let b = gort::GoroutineBuilder::new()
                .name("b")
                .spawn(move || a.join().unwrap())
                .unwrap();
            b.join().unwrap();
        })
        .unwrap_err();
    let RunError::Deadlock(report) = err;
    assert!(
        report.starts_with("all goroutines are asleep - deadlock!"),
        "{report}"
    );
    let line = |name: &str| {
        report
            .lines()
            .find(|l| l.contains(&format!("\"{name}\"")))
            .unwrap_or_else(|| panic!("no {name} in {report}"))
            .to_owned()
    };
    // Each with the time it has waited, then its wait site and spawn site.
    assert!(line("a").contains("[park, "), "{report}");
    assert!(line("b").contains("[join, "), "{report}");
    assert!(line("main").contains("[join, "), "{report}");
    assert_eq!(
        report.matches("spawned at tests/deadlock.rs:").count(),
        3,
        "{report}"
    );
    assert!(
        report.contains("    park at tests/deadlock.rs:10:"),
        "{report}"
    );
    assert_eq!(
        report.matches("    join at tests/deadlock.rs:").count(),
        2,
        "{report}"
    );
    // The runtime still works after a deadlock report.
    assert_eq!(rt.block_on(|| 5), 5);
}

#[test]
fn run_panics_with_the_deadlock_report() {
    let p = std::panic::catch_unwind(|| {
        gort::run(|| {
            let h = gort::spawn(park_forever);
            h.join().unwrap();
        })
    })
    .unwrap_err();
    let msg = p.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("all goroutines are asleep - deadlock!"),
        "{msg}"
    );
    assert!(msg.contains("[park, "), "{msg}");
}

#[test]
fn a_main_goroutine_parked_alone_is_a_deadlock() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let err = rt.try_block_on(park_forever).unwrap_err();
    assert!(err.to_string().contains("goroutine"), "{err}");
}

#[test]
fn pending_timers_are_not_a_deadlock() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let r = rt.try_block_on(|| {
        let h = gort::spawn(|| gort::time::sleep(std::time::Duration::from_millis(30)));
        h.join().unwrap();
        7
    });
    assert_eq!(r, Ok(7));
}

#[test]
fn detection_can_be_turned_off_and_is_off_once_plain_threads_wake_goroutines() {
    // A plain thread that has already woken goroutines on this runtime may wake more:
    // waiting on it is not a deadlock.
    let rt = Arc::new(Runtime::builder().procs(2).build().unwrap());
    let (tx, rx) = mpsc::channel::<gort::Goroutine>();
    let flag = Arc::new(AtomicBool::new(false));
    let (rt2, f2) = (rt.clone(), flag.clone());
    let (driving_tx, driving_rx) = mpsc::channel::<()>();
    let helper = std::thread::spawn(move || {
        rt2.spawn(|| ()).join().unwrap(); // this thread now drives the runtime
        driving_tx.send(()).unwrap();
        let g = rx.recv().unwrap();
        // Let the goroutines park first; dump() shows when they have.
        while !rt2.dump().contains("[park, ") {
            std::thread::yield_now();
        }
        f2.store(true, Release);
        g.unpark();
    });
    // Only once it has: before that, a parked main goroutine is a deadlock.
    driving_rx.recv().unwrap();
    let r = rt.try_block_on(move || {
        tx.send(gort::current()).unwrap();
        while !flag.load(Acquire) {
            gort::park();
        }
        1
    });
    helper.join().unwrap();
    assert_eq!(r, Ok(1));

    let off = Runtime::builder()
        .deadlock_detection(false)
        .build()
        .unwrap();
    assert!(!off.config().deadlock_detection);
}

#[test]
fn dump_lists_live_goroutines_with_status_and_site() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let text = rt.block_on(|| {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let h = gort::GoroutineBuilder::new()
            .name("sleeper")
            .spawn(move || {
                while !d.load(Acquire) {
                    gort::time::sleep(std::time::Duration::from_millis(5));
                }
            })
            .unwrap();
        // Until it sleeps (one yield is enough under the default policy, not under chaos).
        let text = loop {
            let text = gort::dump();
            if text.contains("\"sleeper\" [sleep, ") {
                break text;
            }
            gort::yield_now();
        };
        done.store(true, Release);
        h.join().unwrap();
        text
    });
    assert!(text.contains("\"sleeper\" [sleep, "), "{text}");
    assert!(text.contains("    sleep at tests/deadlock.rs:"), "{text}");
    // The caller of `dump` is running.
    assert!(text.contains("\"main\" [running]:"), "{text}");
    assert!(text.contains("tests/deadlock.rs:"), "{text}");
}

#[test]
fn goroutines_waiting_for_a_lock_held_by_a_plain_thread_are_not_deadlocked() {
    let rt = Arc::new(Runtime::builder().procs(2).build().unwrap());
    let m = Arc::new(gort::sync::Mutex::new(0u32));
    let (locked_tx, locked_rx) = mpsc::channel();
    let (m2, rt2) = (m.clone(), rt.clone());
    let holder = std::thread::spawn(move || {
        let mut g = m2.lock();
        locked_tx.send(()).unwrap();
        // Hold the lock until the goroutine is parked on it.
        while !rt2.dump().contains("[sync.Mutex.Lock, ") {
            std::thread::yield_now();
        }
        *g += 1;
    });
    locked_rx.recv().unwrap();
    let m3 = m.clone();
    let r = rt.try_block_on(move || {
        let mut g = m3.lock();
        *g += 1;
        *g
    });
    holder.join().unwrap();
    assert_eq!(r, Ok(2));
}

#[test]
fn back_to_back_block_ons_never_report_a_deadlock() {
    // The main goroutine is counted and queued in one step: an M going idle in
    // between must not see a live goroutine that is nowhere.
    for procs in [1, 2] {
        let rt = Runtime::builder().procs(procs).build().unwrap();
        for i in 0..20_000 {
            assert_eq!(rt.try_block_on(move || i), Ok(i), "procs {procs}");
        }
    }
}

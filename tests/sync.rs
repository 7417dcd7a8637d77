//! gort::sync: mutual exclusion, starvation mode, reader/writer fairness, condition
//! variables, wait groups, once-initialisation, semaphores, barriers, timeouts, panics,
//! and primitives left usable after the goroutines waiting on them were dropped.
//!
//! Every test body runs under `bounded`, which fails the test instead of hanging.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use gort::sync::{Barrier, Condvar, Mutex, Once, OnceLock, RwLock, Semaphore, WaitGroup};
use gort::Runtime;

#[path = "support/bounded.rs"]
mod bounded;
use bounded::within;

fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().unwrap()
}

/// A runtime whose goroutines wait on primitives that plain threads hold. Deadlock
/// detection cannot see a plain thread that holds a lock but has not yet woken a
/// goroutine, so it would report those waits as a deadlock: turn it off.
fn rt_mixed(procs: usize) -> Runtime {
    Runtime::builder()
        .procs(procs)
        .deadlock_detection(false)
        .build()
        .unwrap()
}

/// Spins (yielding) until `cond` holds; fails after 10 s.
fn spin_until(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(10), "never: {what}");
        gort::yield_now();
        std::thread::yield_now();
    }
}

/// A deadline-bounded wait returned no earlier than its deadline (and not absurdly late).
fn assert_waited(start: Instant, d: Duration) {
    let e = start.elapsed();
    assert!(e >= d, "returned after {e:?}, before its {d:?} deadline");
    assert!(e < d + Duration::from_secs(5), "returned only after {e:?}");
}

// ---------------------------------------------------------------- Mutex

#[test]
fn mutex_excludes_1000_contending_goroutines_on_2_procs() {
    let total = within(Duration::from_secs(60), || {
        rt(2).block_on(|| {
            let m = Arc::new(Mutex::new(0u64));
            let hs: Vec<_> = (0..1000)
                .map(|_| {
                    let m = m.clone();
                    gort::spawn(move || {
                        for _ in 0..20 {
                            let mut g = m.lock();
                            // Read, switch away while holding the lock, write back: a
                            // second owner would lose updates.
                            let v = *g;
                            gort::yield_now();
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let v = *m.lock();
            assert!(!m.is_locked());
            assert_eq!(m.waiters(), 0);
            v
        })
    });
    assert_eq!(total, 20_000);
}

#[test]
fn mutex_is_shared_by_plain_threads_and_goroutines() {
    let total = within(Duration::from_secs(60), || {
        let rt = rt_mixed(2);
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let mut g = m.lock();
                        let v = *g;
                        std::thread::yield_now();
                        *g = v + 1;
                    }
                })
            })
            .collect();
        let m2 = m.clone();
        rt.block_on(move || {
            let hs: Vec<_> = (0..200)
                .map(|_| {
                    let m = m2.clone();
                    gort::spawn(move || {
                        for _ in 0..40 {
                            let mut g = m.lock();
                            let v = *g;
                            gort::yield_now();
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        });
        threads.into_iter().for_each(|t| t.join().unwrap());
        let v = *m.lock();
        v
    });
    assert_eq!(total, 4 * 2000 + 200 * 40);
}

/// A waiter that has waited over 1 ms and then loses the race for the lock to a barging
/// locker switches the mutex to starvation mode, and the next unlock hands it the lock
/// directly: the barger's immediate re-lock then has to queue behind it.
///
/// Made deterministic with one P: after the first unlock the woken waiter cannot run
/// (a spinning goroutine holds the only P) until the barger has re-locked.
#[test]
fn mutex_starvation_mode_hands_the_lock_to_a_long_waiter() {
    within(Duration::from_secs(60), || {
        let rt = rt_mixed(1);
        let m = Arc::new(Mutex::new(()));
        let got = Arc::new(AtomicBool::new(false));
        let mut g = m.lock();
        let (m2, got2) = (m.clone(), got.clone());
        let waiter = rt.spawn(move || {
            let _g = m2.lock();
            got2.store(true, SeqCst);
        });
        spin_until("the waiter registered", || m.waiters() == 1);
        // A goroutine that keeps the only P until `free`, then yields in a loop.
        let (running, free, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (r2, f2, s2) = (running.clone(), free.clone(), stop.clone());
        let hog = rt.spawn(move || {
            r2.store(true, SeqCst);
            while !f2.load(SeqCst) {
                std::hint::spin_loop();
            }
            while !s2.load(SeqCst) {
                gort::yield_now();
            }
        });
        spin_until("the hog holds the P", || running.load(SeqCst));
        // Exceed the starvation threshold (a timing requirement, not a handshake).
        std::thread::sleep(Duration::from_millis(3));
        assert!(!m.is_starving());
        // Unlock 1 wakes the waiter, which cannot run yet: the barger re-locks first.
        drop(g);
        g = m.lock();
        assert!(!got.load(SeqCst));
        free.store(true, SeqCst);
        // The waiter runs, loses (locked), has waited > 1 ms: starvation mode.
        spin_until("starvation mode", || m.is_starving());
        // Unlock 2 hands the lock to the waiter; the barger's re-lock queues behind it.
        drop(g);
        let g = m.lock();
        assert!(got.load(SeqCst), "the lock was handed to the long waiter");
        assert!(!m.is_starving(), "turned off once the waiters left");
        drop(g);
        stop.store(true, SeqCst);
        waiter.join().unwrap();
        hog.join().unwrap();
        assert_eq!(m.waiters(), 0);
        assert!(!m.is_locked());
    });
}

/// Many goroutines hammer one mutex on 2 procs while one goroutine measures how long
/// each of its lock calls waits: starvation mode bounds that wait.
#[test]
fn mutex_waits_stay_bounded_under_a_hammering() {
    let worst = within(Duration::from_secs(60), || {
        rt(2).block_on(|| {
            let m = Arc::new(Mutex::new(0u64));
            let stop = Arc::new(AtomicBool::new(false));
            let hammers: Vec<_> = (0..8)
                .map(|_| {
                    let (m, stop) = (m.clone(), stop.clone());
                    gort::spawn(move || {
                        while !stop.load(Relaxed) {
                            let mut g = m.lock();
                            *g += 1;
                            let t = Instant::now();
                            while t.elapsed() < Duration::from_micros(20) {}
                            drop(g);
                            gort::yield_now();
                        }
                    })
                })
                .collect();
            let mut worst = Duration::ZERO;
            for _ in 0..300 {
                let t = Instant::now();
                let g = m.lock();
                worst = worst.max(t.elapsed());
                drop(g);
                gort::yield_now();
            }
            stop.store(true, Relaxed);
            hammers.into_iter().for_each(|h| h.join().unwrap());
            worst
        })
    });
    // Generous: scheduling noise on a loaded CI machine, not the algorithm, sets this.
    assert!(worst < Duration::from_millis(500), "worst wait {worst:?}");
}

#[test]
fn mutex_timeouts_return_after_the_deadline_with_the_right_result() {
    within(Duration::from_secs(30), || {
        let rt = rt_mixed(2);
        let m = Arc::new(Mutex::new(5));
        let g = m.lock();
        // From a goroutine, while a plain thread holds the lock.
        let m2 = m.clone();
        rt.block_on(move || {
            let t = Instant::now();
            assert!(m2.try_lock_for(Duration::from_millis(20)).is_none());
            assert_waited(t, Duration::from_millis(20));
            assert!(m2.try_lock().is_none());
            assert!(m2.try_lock_for(Duration::ZERO).is_none());
        });
        // From a plain thread.
        let t = Instant::now();
        assert!(m.try_lock_for(Duration::from_millis(20)).is_none());
        assert_waited(t, Duration::from_millis(20));
        assert_eq!(m.waiters(), 0, "timed-out waiters unregistered");
        // Released before the deadline: the timed lock succeeds.
        let m3 = m.clone();
        let h = rt.spawn(move || *m3.try_lock_for(Duration::from_secs(10)).unwrap());
        spin_until("the timed waiter registered", || m.waiters() == 1);
        drop(g);
        assert_eq!(h.join().unwrap(), 5);
        // Many timed waiters giving up while others get the lock leave a clean state.
        let m4 = m.clone();
        rt.block_on(move || {
            let hs: Vec<_> = (0..200)
                .map(|i| {
                    let m = m4.clone();
                    gort::spawn(move || {
                        for _ in 0..20 {
                            if let Some(mut g) = m.try_lock_for(Duration::from_micros(50 + i)) {
                                *g += 1;
                                gort::yield_now();
                            }
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        });
        assert!(!m.is_locked());
        assert_eq!(m.waiters(), 0);
        assert!(!m.is_starving());
        assert!(m.try_lock().is_some());
    });
}

#[test]
fn a_panicking_goroutine_releases_the_mutex_it_held() {
    within(Duration::from_secs(30), || {
        rt(2).block_on(|| {
            let m = Arc::new(Mutex::new(vec![1]));
            let m2 = m.clone();
            let r = gort::spawn(move || {
                let mut g = m2.lock();
                g.push(2);
                panic!("boom while holding the lock");
            })
            .join();
            assert!(r.is_err());
            // No poisoning: the lock is free and the data as the panicker left it.
            assert_eq!(*m.try_lock().expect("released by unwinding"), [1, 2]);
        });
    });
}

#[test]
fn mutex_into_inner_get_mut_and_debug() {
    let mut m = Mutex::new(String::from("a"));
    m.get_mut().push('b');
    assert_eq!(format!("{m:?}"), r#"Mutex { data: "ab", .. }"#);
    let g = m.lock();
    assert_eq!(format!("{g}"), "ab");
    drop(g);
    assert_eq!(m.into_inner(), "ab");
}

// ---------------------------------------------------------------- RwLock

#[test]
fn rwlock_readers_share_and_writers_exclude() {
    within(Duration::from_secs(60), || {
        rt(2).block_on(|| {
            let l = Arc::new(RwLock::new(0u64));
            // 8 readers hold the lock at the same time: each waits at a barrier for the
            // other 7 while holding its read guard.
            let b = Arc::new(Barrier::new(8));
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let (l, b) = (l.clone(), b.clone());
                    gort::spawn(move || {
                        let g = l.read();
                        b.wait();
                        *g
                    })
                })
                .collect();
            assert!(hs.into_iter().all(|h| h.join().unwrap() == 0));
            // Writers exclude readers and each other.
            let writing = Arc::new(AtomicBool::new(false));
            let hs: Vec<_> = (0..100)
                .map(|i| {
                    let (l, writing) = (l.clone(), writing.clone());
                    gort::spawn(move || {
                        for _ in 0..20 {
                            if i % 2 == 0 {
                                let mut g = l.write();
                                assert!(!writing.swap(true, SeqCst));
                                let v = *g;
                                gort::yield_now();
                                *g = v + 1;
                                writing.store(false, SeqCst);
                            } else {
                                let g = l.read();
                                assert!(!writing.load(SeqCst), "a reader saw a writer");
                                gort::yield_now();
                                drop(g);
                            }
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(*l.read(), 50 * 20);
        });
    });
}

#[test]
fn rwlock_writer_is_not_starved_by_a_stream_of_readers() {
    within(Duration::from_secs(60), || {
        rt(2).block_on(|| {
            let l = Arc::new(RwLock::new(()));
            let stop = Arc::new(AtomicBool::new(false));
            let reads = Arc::new(AtomicUsize::new(0));
            // Overlapping readers: at every moment some reader holds the lock.
            let readers: Vec<_> = (0..16)
                .map(|_| {
                    let (l, stop, reads) = (l.clone(), stop.clone(), reads.clone());
                    gort::spawn(move || {
                        while !stop.load(SeqCst) {
                            let g = l.read();
                            reads.fetch_add(1, Relaxed);
                            gort::yield_now();
                            drop(g);
                        }
                    })
                })
                .collect();
            spin_until("readers are streaming", || reads.load(Relaxed) > 1000);
            for _ in 0..20 {
                let t = Instant::now();
                let g = l.write();
                assert!(t.elapsed() < Duration::from_secs(5));
                drop(g);
                gort::yield_now();
            }
            stop.store(true, SeqCst);
            readers.into_iter().for_each(|h| h.join().unwrap());
        });
    });
}

#[test]
fn rwlock_timeouts_return_after_the_deadline_with_the_right_result() {
    within(Duration::from_secs(30), || {
        let rt = rt_mixed(2);
        let l = Arc::new(RwLock::new(1));
        let r = l.read();
        let l2 = l.clone();
        rt.block_on(move || {
            // A held read lock blocks writers, not readers.
            let t = Instant::now();
            assert!(l2.try_write_for(Duration::from_millis(20)).is_none());
            assert_waited(t, Duration::from_millis(20));
            assert_eq!(*l2.try_read_for(Duration::from_millis(20)).unwrap(), 1);
            assert!(l2.try_write().is_none());
        });
        drop(r);
        let w = l.write();
        let l3 = l.clone();
        rt.block_on(move || {
            let t = Instant::now();
            assert!(l3.try_read_for(Duration::from_millis(20)).is_none());
            assert_waited(t, Duration::from_millis(20));
            let t = Instant::now();
            assert!(l3.try_write_for(Duration::from_millis(20)).is_none());
            assert_waited(t, Duration::from_millis(20));
        });
        // A reader queued behind a writer that gives up gets in once the writer leaves.
        drop(w);
        let r = l.read();
        let (l4, l5) = (l.clone(), l.clone());
        let writer = rt.spawn(move || l4.try_write_for(Duration::from_millis(30)).is_some());
        // Wait until the writer is queued: new readers then queue behind it.
        spin_until("the writer is waiting", || l.try_read().is_none());
        let reader = rt.spawn(move || *l5.read());
        assert!(!writer.join().unwrap(), "the writer timed out");
        assert_eq!(reader.join().unwrap(), 1, "the reader got in behind it");
        drop(r);
        *l.try_write().expect("free again") += 1;
        assert_eq!(*l.read(), 2);
    });
}

// ---------------------------------------------------------------- Condvar

/// Items, and how many producers are done; with the condition "not empty or all done".
type Queue = (Mutex<(VecDeque<u64>, usize)>, Condvar);

#[test]
fn condvar_producer_consumer_with_goroutines_and_a_thread() {
    let sum = within(Duration::from_secs(60), || {
        let rt = rt_mixed(2);
        let q = Arc::new((Mutex::new((VecDeque::new(), 0usize)), Condvar::new()));
        const PRODUCERS: u64 = 4;
        const ITEMS: u64 = 5000;
        const CONSUMERS: usize = 4;
        let consume = |q: Arc<Queue>| {
            let (m, cv) = &*q;
            let mut sum = 0;
            loop {
                let mut g = cv.wait_while(m.lock(), |(items, done)| {
                    items.is_empty() && *done < PRODUCERS as usize
                });
                match g.0.pop_front() {
                    Some(v) => sum += v,
                    None => return sum, // every producer is done and the queue is empty
                }
            }
        };
        let q2 = q.clone();
        let thread_consumer = std::thread::spawn(move || consume(q2));
        let q3 = q.clone();
        let from_goroutines = rt.block_on(move || {
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let q = q3.clone();
                    gort::spawn(move || consume(q))
                })
                .collect();
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let q = q3.clone();
                    gort::spawn(move || {
                        let (m, cv) = &*q;
                        for i in 0..ITEMS {
                            m.lock().0.push_back(p * ITEMS + i);
                            cv.notify_one();
                        }
                        m.lock().1 += 1;
                        cv.notify_all();
                    })
                })
                .collect();
            producers.into_iter().for_each(|h| h.join().unwrap());
            consumers
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum::<u64>()
        });
        from_goroutines + thread_consumer.join().unwrap()
    });
    let n = 4 * 5000u64;
    assert_eq!(sum, n * (n - 1) / 2);
}

#[test]
fn condvar_notify_all_wakes_every_waiter() {
    within(Duration::from_secs(30), || {
        rt(2).block_on(|| {
            let s = Arc::new((Mutex::new((false, 0usize)), Condvar::new()));
            let hs: Vec<_> = (0..100)
                .map(|_| {
                    let s = s.clone();
                    gort::spawn(move || {
                        let (m, cv) = &*s;
                        let mut g = m.lock();
                        g.1 += 1;
                        let _g = cv.wait_while(g, |(go, _)| !*go);
                    })
                })
                .collect();
            let (m, cv) = &*s;
            spin_until("all waiting", || m.lock().1 == 100);
            m.lock().0 = true;
            cv.notify_all();
            hs.into_iter().for_each(|h| h.join().unwrap());
        });
    });
}

#[test]
fn condvar_timeouts_return_after_the_deadline_with_the_right_result() {
    within(Duration::from_secs(30), || {
        let check = || {
            let m = Mutex::new(0);
            let cv = Condvar::new();
            let t = Instant::now();
            let (g, r) = cv.wait_timeout(m.lock(), Duration::from_millis(20));
            assert!(r.timed_out());
            assert_waited(t, Duration::from_millis(20));
            drop(g);
            assert!(!m.is_locked(), "relocked then released by the guard");
            let t = Instant::now();
            let (g, r) = cv.wait_timeout_while(m.lock(), Duration::from_millis(20), |v| *v == 0);
            assert!(r.timed_out());
            assert_waited(t, Duration::from_millis(20));
            drop(g);
            // The condition already false: returns at once, not timed out.
            let (_g, r) = cv.wait_timeout_while(m.lock(), Duration::from_secs(10), |v| *v != 0);
            assert!(!r.timed_out());
        };
        rt(2).block_on(check);
        check();
        // Notified before the deadline.
        rt(2).block_on(|| {
            let s = Arc::new((Mutex::new(false), Condvar::new()));
            let s2 = s.clone();
            let h = gort::spawn(move || {
                let (m, cv) = &*s2;
                let (g, r) = cv.wait_timeout_while(m.lock(), Duration::from_secs(10), |v| !*v);
                assert!(*g);
                r.timed_out()
            });
            gort::yield_now();
            *s.0.lock() = true;
            s.1.notify_all();
            assert!(!h.join().unwrap());
        });
    });
}

// ---------------------------------------------------------------- WaitGroup

#[test]
fn waitgroup_of_10000_goroutines_waited_on_by_a_plain_thread() {
    within(Duration::from_secs(60), || {
        let rt = rt_mixed(2);
        let wg = WaitGroup::new();
        let hits = Arc::new(AtomicUsize::new(0));
        wg.add(10_000);
        for i in 0..10_000 {
            let (wg, hits) = (wg.clone(), hits.clone());
            std::mem::drop(rt.spawn(move || {
                if i % 7 == 0 {
                    gort::yield_now();
                }
                hits.fetch_add(1, Relaxed);
                wg.done();
            }));
        }
        // Goroutines waiting too.
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let wg = wg.clone();
                rt.spawn(move || wg.wait())
            })
            .collect();
        wg.wait();
        assert_eq!(hits.load(Relaxed), 10_000, "wait returned after every done");
        assert_eq!(wg.count(), 0);
        waiters.into_iter().for_each(|h| h.join().unwrap());
        wg.wait(); // at zero: returns at once
    });
}

#[test]
fn waitgroup_timeouts_and_reuse() {
    within(Duration::from_secs(30), || {
        let rt = rt_mixed(2);
        let wg = WaitGroup::new();
        wg.add(1);
        let t = Instant::now();
        assert!(!wg.wait_timeout(Duration::from_millis(20)));
        assert_waited(t, Duration::from_millis(20));
        let wg2 = wg.clone();
        rt.block_on(move || {
            let t = Instant::now();
            assert!(!wg2.wait_timeout(Duration::from_millis(20)));
            assert_waited(t, Duration::from_millis(20));
            let wg3 = wg2.clone();
            let h = gort::spawn(move || wg3.wait_timeout(Duration::from_secs(10)));
            gort::yield_now();
            wg2.done();
            assert!(h.join().unwrap());
        });
        // Reused for a second round.
        wg.add(2);
        let (a, b) = (wg.clone(), wg.clone());
        rt.spawn(move || a.done());
        rt.spawn(move || b.done());
        wg.wait();
    });
}

#[test]
fn waitgroup_negative_counter_panics() {
    let wg = WaitGroup::new();
    let r = catch_unwind(AssertUnwindSafe(|| wg.done()));
    let msg = *r.unwrap_err().downcast::<&str>().unwrap();
    assert_eq!(msg, "sync: negative WaitGroup counter");
}

// ---------------------------------------------------------------- Once, OnceLock

#[test]
fn once_runs_exactly_once_under_1000_racing_goroutines() {
    within(Duration::from_secs(60), || {
        rt(2).block_on(|| {
            let once = Arc::new(Once::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let finished = Arc::new(AtomicBool::new(false));
            let hs: Vec<_> = (0..1000)
                .map(|_| {
                    let (once, runs, finished) = (once.clone(), runs.clone(), finished.clone());
                    gort::spawn(move || {
                        once.call_once(|| {
                            runs.fetch_add(1, SeqCst);
                            // A slow initialiser: the others must park until it is done.
                            for _ in 0..50 {
                                gort::yield_now();
                            }
                            finished.store(true, SeqCst);
                        });
                        assert!(finished.load(SeqCst), "returned before the init completed");
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(runs.load(SeqCst), 1);
            assert!(once.is_completed());
        });
    });
}

#[test]
fn once_after_a_panicking_initialiser_runs_another() {
    within(Duration::from_secs(30), || {
        rt(2).block_on(|| {
            let once = Arc::new(Once::new());
            let o = once.clone();
            let r = gort::spawn(move || o.call_once(|| panic!("init failed"))).join();
            assert!(r.is_err());
            assert!(!once.is_completed(), "no poisoning: still incomplete");
            let mut ran = false;
            once.call_once(|| ran = true);
            assert!(ran && once.is_completed());
        });
    });
}

#[test]
fn oncelock_initialises_once_and_others_wait() {
    within(Duration::from_secs(30), || {
        rt(2).block_on(|| {
            let cell = Arc::new(OnceLock::<String>::new());
            assert!(cell.get().is_none());
            let inits = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..200)
                .map(|i| {
                    let (cell, inits) = (cell.clone(), inits.clone());
                    gort::spawn(move || {
                        cell.get_or_init(|| {
                            inits.fetch_add(1, SeqCst);
                            gort::yield_now();
                            format!("winner {i}")
                        })
                        .clone()
                    })
                })
                .collect();
            let vals: Vec<String> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(inits.load(SeqCst), 1);
            assert!(vals.iter().all(|v| *v == vals[0]));
            assert_eq!(cell.set("late".into()), Err("late".to_string()));
            let mut c2 = OnceLock::new();
            assert_eq!(c2.set(5), Ok(()));
            *c2.get_mut().unwrap() += 1;
            assert_eq!(c2.into_inner(), Some(6));
        });
    });
}

// ---------------------------------------------------------------- Semaphore

#[test]
fn semaphore_bounds_concurrency_to_its_permits() {
    let max = within(Duration::from_secs(60), || {
        rt(2).block_on(|| {
            let s = Arc::new(Semaphore::new(3));
            let inflight = Arc::new(AtomicUsize::new(0));
            let max = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..300)
                .map(|_| {
                    let (s, inflight, max) = (s.clone(), inflight.clone(), max.clone());
                    gort::spawn(move || {
                        for _ in 0..5 {
                            let _p = s.acquire();
                            let n = inflight.fetch_add(1, SeqCst) + 1;
                            max.fetch_max(n, SeqCst);
                            gort::yield_now();
                            gort::yield_now();
                            inflight.fetch_sub(1, SeqCst);
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(s.available_permits(), 3);
            max.load(SeqCst)
        })
    });
    assert_eq!(max, 3);
}

#[test]
fn semaphore_timeouts_return_after_the_deadline_with_the_right_result() {
    within(Duration::from_secs(30), || {
        let rt = rt_mixed(2);
        let s = Arc::new(Semaphore::new(1));
        let p = s.acquire();
        let t = Instant::now();
        assert!(s.acquire_timeout(Duration::from_millis(20)).is_none());
        assert_waited(t, Duration::from_millis(20));
        let s2 = s.clone();
        rt.block_on(move || {
            let t = Instant::now();
            assert!(s2.acquire_timeout(Duration::from_millis(20)).is_none());
            assert_waited(t, Duration::from_millis(20));
            assert!(s2.try_acquire().is_none());
        });
        let s3 = s.clone();
        let h = rt.spawn(move || s3.acquire_timeout(Duration::from_secs(10)).is_some());
        drop(p);
        assert!(h.join().unwrap());
        // forget + release.
        s.acquire().forget();
        assert_eq!(s.available_permits(), 0);
        s.release();
        assert_eq!(s.available_permits(), 1);
    });
}

// ---------------------------------------------------------------- Barrier

#[test]
fn barrier_releases_all_with_one_leader_per_generation_and_is_reusable() {
    within(Duration::from_secs(60), || {
        rt(2).block_on(|| {
            const N: usize = 10;
            const GENS: usize = 50;
            let b = Arc::new(Barrier::new(N));
            let leaders: Arc<Vec<AtomicUsize>> =
                Arc::new((0..GENS).map(|_| AtomicUsize::new(0)).collect());
            let arrived: Arc<Vec<AtomicUsize>> =
                Arc::new((0..GENS).map(|_| AtomicUsize::new(0)).collect());
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let (b, leaders, arrived) = (b.clone(), leaders.clone(), arrived.clone());
                    gort::spawn(move || {
                        for g in 0..GENS {
                            arrived[g].fetch_add(1, SeqCst);
                            if b.wait().is_leader() {
                                leaders[g].fetch_add(1, SeqCst);
                            }
                            assert_eq!(arrived[g].load(SeqCst), N, "passed before all arrived");
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            assert!(leaders.iter().all(|l| l.load(SeqCst) == 1));
        });
    });
}

#[test]
fn barrier_wait_timeout_withdraws_the_arrival() {
    within(Duration::from_secs(30), || {
        let b = Arc::new(Barrier::new(2));
        let t = Instant::now();
        assert!(b.wait_timeout(Duration::from_millis(20)).is_none());
        assert_waited(t, Duration::from_millis(20));
        // The withdrawn arrival does not count: two fresh parties are still needed.
        let b2 = b.clone();
        let rt = rt_mixed(2);
        let h = rt.spawn(move || b2.wait().is_leader());
        let me = b.wait().is_leader();
        assert!(me ^ h.join().unwrap(), "exactly one leader");
    });
}

// ---------------------------------------------------------------- teardown

/// Goroutines parked on every primitive when their runtime is dropped are unwound; each
/// removes itself (or gives back what it was handed), and plain threads can keep using
/// the primitives afterwards.
#[test]
fn goroutines_dropped_while_waiting_leave_the_primitives_usable() {
    within(Duration::from_secs(60), || {
        let m = Arc::new(Mutex::new(0));
        let l = Arc::new(RwLock::new(0));
        let cv = Arc::new((Mutex::new(false), Condvar::new()));
        let wg = WaitGroup::new();
        let once = Arc::new(Once::new());
        let sem = Arc::new(Semaphore::new(0));
        let bar = Arc::new(Barrier::new(2));

        let mg = m.lock();
        let lr = l.read();
        wg.add(1);
        // A plain thread runs the Once's initialiser until told to finish.
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let o = once.clone();
        let initialiser = std::thread::spawn(move || {
            o.call_once(|| {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
            })
        });
        started_rx.recv().unwrap();

        // The order below (the reader queued behind the writer, everything parked after
        // two yields) is the FIFO order of one P: chaos could reorder it.
        let rt = Runtime::builder()
            .procs(1)
            .deadlock_detection(false)
            .chaos(None)
            .build()
            .unwrap();
        {
            let (m, l, cv, wg, once, sem, bar) = (
                m.clone(),
                l.clone(),
                cv.clone(),
                wg.clone(),
                once.clone(),
                sem.clone(),
                bar.clone(),
            );
            rt.block_on(move || {
                let l2 = l.clone();
                let spawned = [
                    gort::spawn(move || drop(m.lock())),
                    gort::spawn(move || drop(l.write())),
                    // Queued behind the waiting writer.
                    gort::spawn(move || drop(l2.read())),
                    gort::spawn(move || {
                        let (m, c) = &*cv;
                        drop(c.wait_while(m.lock(), |ready| !*ready));
                    }),
                    gort::spawn(move || wg.wait()),
                    gort::spawn(move || once.call_once(|| unreachable!())),
                    gort::spawn(move || drop(sem.acquire())),
                    gort::spawn(move || {
                        bar.wait();
                    }),
                ];
                // One P: after a yield every goroutine above has run to its park.
                gort::yield_now();
                gort::yield_now();
                assert!(spawned.iter().all(|h| !h.is_finished()));
            });
        }
        assert_eq!(m.waiters(), 1);
        drop(rt); // unwinds the eight parked goroutines
        assert_eq!(m.waiters(), 0, "the dropped waiter unregistered");

        // Every primitive still works from plain threads.
        drop(mg);
        assert!(m.try_lock_for(Duration::from_secs(1)).is_some());
        drop(lr);
        *l.try_write_for(Duration::from_secs(1))
            .expect("no stale waiters") += 1;
        assert_eq!(*l.try_read().unwrap(), 1);
        {
            let (cm, c) = &*cv;
            c.notify_all();
            let (g, r) = c.wait_timeout(cm.lock(), Duration::from_millis(5));
            assert!(r.timed_out());
            drop(g);
            assert!(!cm.is_locked());
        }
        wg.done();
        assert!(wg.wait_timeout(Duration::from_secs(1)));
        go_tx.send(()).unwrap();
        initialiser.join().unwrap();
        assert!(once.is_completed());
        sem.release();
        assert!(sem.acquire_timeout(Duration::from_secs(1)).is_some());
        assert_eq!(sem.available_permits(), 1);
        let b2 = bar.clone();
        let t = std::thread::spawn(move || b2.wait().is_leader());
        let me = bar.wait().is_leader();
        assert!(
            me ^ t.join().unwrap(),
            "two fresh parties complete a generation"
        );
    });
}

/// A destructor that runs during teardown and tries to take a lock held by another
/// parked goroutine does not hang: the timed variant reports a timeout.
#[test]
fn timed_locks_in_teardown_destructors_do_not_hang() {
    struct LockOnDrop(Arc<Mutex<u32>>, Arc<AtomicUsize>);
    impl Drop for LockOnDrop {
        fn drop(&mut self) {
            if let Some(mut g) = self.0.try_lock_for(Duration::from_secs(30)) {
                *g += 1;
            }
            self.1.fetch_add(1, SeqCst);
        }
    }
    within(Duration::from_secs(30), || {
        let m = Arc::new(Mutex::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let rt = rt_mixed(1);
        let (m2, d2) = (m.clone(), dropped.clone());
        rt.block_on(move || {
            let m3 = m2.clone();
            gort::spawn(move || {
                let _g = m3.lock();
                loop {
                    gort::park();
                }
            });
            gort::spawn(move || {
                let _d = LockOnDrop(m2, d2);
                loop {
                    gort::park();
                }
            });
            gort::yield_now();
        });
        drop(rt);
        assert_eq!(dropped.load(SeqCst), 1);
        assert!(!m.is_locked());
        assert_eq!(m.waiters(), 0);
    });
}

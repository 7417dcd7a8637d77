//! Deterministic simulation (`gort::sim`): one seed gives one schedule and one result,
//! other seeds give other interleavings; channels and `gort::sync` keep their guarantees
//! under hundreds of schedules; virtual time makes an hour-long sleep instant and fires
//! timers in deadline order; networking is refused; a deadlock is reported with the seed
//! and the command that replays it; and a planted lost-wakeup bug is found by searching
//! seeds, replayed from its seed, and gone once fixed.
//!
//! A simulated run is driven on the test's own thread and reports a deadlock instead of
//! hanging, so these tests need no watchdog thread (which would also change the replay
//! command `check` prints: it names the test from the thread's name).

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::chan::{self, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use gort::sim::{self, Failure, Run};
use gort::sync::{Barrier, Condvar, Mutex, Once, OnceLock, RwLock, Semaphore, WaitGroup};

/// A simulated run under Go's policy without chaos: tests that count interleavings or
/// search for the planted bug pin both (the suite also runs under other `GORT_POLICY`
/// values and under `GORT_CHAOS`, which change how many interleavings there are).
fn go_run<T: Send + 'static>(
    seed: u64,
    procs: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<Run<T>, Failure> {
    sim::try_run_with(go(procs), seed, f)
}

/// The settings the replay command repeats when they are set (as `sim` prints them).
fn replay_env() -> String {
    ["GORT_POLICY", "GORT_CHAOS"]
        .iter()
        .filter_map(|var| Some(format!("{var}={} ", std::env::var(var).ok()?)))
        .collect()
}

fn go(procs: usize) -> gort::Builder {
    gort::Builder::new()
        .procs(procs)
        .policy(gort::policy::BuiltIn::Go)
        .chaos(None)
}

/// Seeds for the scenario tests run with `sim::check`.
const SEEDS: std::ops::Range<u64> = 0..300;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Text carried by every panic these tests cause on purpose: the hook stays quiet.
const PLANNED: &str = "planned panic";

thread_local! {
    /// Set while `expect_panic` runs on this thread (a simulated run's goroutines run on
    /// the test's thread, so their panics see it too).
    static EXPECTING: Cell<bool> = const { Cell::new(false) };
}

/// Keeps panics that a test causes on purpose off stderr; any other panic is reported
/// by the previous hook as usual.
fn quiet_planned_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = payload_text(info.payload());
            if !(text.contains(PLANNED) || EXPECTING.with(Cell::get)) {
                previous(info);
            }
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::new()
    }
}

/// Runs `f`, which must panic, and returns the panic's text.
fn expect_panic<R>(f: impl FnOnce() -> R) -> String {
    quiet_planned_panics();
    EXPECTING.with(|e| e.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    EXPECTING.with(|e| e.set(false));
    match result {
        Ok(_) => panic!("expected a panic, got none"),
        Err(payload) => payload_text(&*payload),
    }
}

/// A receiver that is never ready (its sender is kept alive): what a disconnected
/// `select!` arm is replaced with.
fn never<T>() -> (chan::Sender<T>, chan::Receiver<T>) {
    chan::bounded(0)
}

/// Virtual time since `start`.
fn since(start: Instant) -> Duration {
    gort::time::now() - start
}

// ---------------------------------------------------------------------------------------
// 1. Determinism
// ---------------------------------------------------------------------------------------

/// What the determinism program saw: the order in which workers took the mutex, the
/// order in which main received their messages, and the virtual time it took.
type Observed = (Vec<(u32, u32)>, Vec<u32>, Duration);

/// Four workers append to a log behind a gort Mutex, yield, sleep a little virtual time
/// and send their id on an unbuffered channel, five times each.
fn recorded_program() -> Observed {
    let start = gort::time::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = chan::bounded::<u32>(0);
    for w in 0..4u32 {
        let (log, tx) = (log.clone(), tx.clone());
        gort::spawn(move || {
            for step in 0..5u32 {
                log.lock().push((w, step));
                gort::yield_now();
                if step == 2 {
                    gort::time::sleep(Duration::from_millis(u64::from(w) + 1));
                }
                tx.send(w).unwrap();
            }
        });
    }
    drop(tx);
    let received: Vec<u32> = rx.iter().collect();
    let log = log.lock().clone();
    (log, received, since(start))
}

fn check_observed(seed: u64, (log, received, elapsed): &Observed) {
    // The longest sleep is 4 ms, and sleeps overlap on virtual time.
    assert!(
        *elapsed >= Duration::from_millis(4),
        "seed {seed}: {elapsed:?}"
    );
    assert!(
        *elapsed < Duration::from_millis(20),
        "seed {seed}: {elapsed:?}"
    );
    assert_eq!(log.len(), 20, "seed {seed}");
    assert_eq!(received.len(), 20, "seed {seed}");
    for w in 0..4 {
        let steps: Vec<u32> = log.iter().filter(|e| e.0 == w).map(|e| e.1).collect();
        assert_eq!(steps, (0..5).collect::<Vec<_>>(), "seed {seed}: worker {w}");
        assert_eq!(
            received.iter().filter(|&&r| r == w).count(),
            5,
            "seed {seed}"
        );
    }
}

/// The same seed twice gives the same schedule (hash and step count) and the same
/// observed orders; with several Ps, different seeds give different schedules and
/// different orders.
#[test]
fn same_seed_same_schedule_other_seeds_other_interleavings() {
    for procs in [1, 2, 4] {
        let mut hashes = HashSet::new();
        let mut orders = HashSet::new();
        for seed in 0..20 {
            let a = go_run(seed, procs, recorded_program).unwrap();
            let b = go_run(seed, procs, recorded_program).unwrap();
            check_observed(seed, &a.value);
            assert_eq!(
                a.schedule_hash, b.schedule_hash,
                "procs {procs} seed {seed}"
            );
            assert_eq!(a.steps, b.steps, "procs {procs} seed {seed}");
            assert_eq!(a.value, b.value, "procs {procs} seed {seed}");
            assert!(a.steps > 20, "procs {procs} seed {seed}: {} steps", a.steps);
            hashes.insert(a.schedule_hash);
            orders.insert((a.value.0, a.value.1));
        }
        if procs == 1 {
            // With one P the simulator has no choice to make (the seed picks among Ps
            // and steal victims), so every seed gives the same schedule.
            assert_eq!(hashes.len(), 1, "procs 1: {} schedules", hashes.len());
            assert_eq!(orders.len(), 1, "procs 1: {} orders", orders.len());
        } else {
            assert!(hashes.len() > 1, "procs {procs}: one schedule for 20 seeds");
            assert!(orders.len() >= 2, "procs {procs}: one order for 20 seeds");
        }
        eprintln!(
            "determinism, procs {procs}: 20 seeds, {} schedules, {} orders",
            hashes.len(),
            orders.len()
        );
    }
}

/// The order several senders' values arrive in on one receiver is a function of the
/// seed, and all of them arrive.
#[test]
fn receive_order_from_several_senders_is_a_function_of_the_seed() {
    fn program() -> Vec<u64> {
        let (tx, rx) = chan::bounded::<u64>(2);
        for s in 0..3u64 {
            let tx = tx.clone();
            gort::spawn(move || {
                for i in 0..4 {
                    tx.send(s * 10 + i).unwrap();
                }
            });
        }
        drop(tx);
        rx.iter().collect()
    }
    let mut orders = HashSet::new();
    for seed in 0..20 {
        let a = go_run(seed, 2, program).unwrap();
        let b = go_run(seed, 2, program).unwrap();
        assert_eq!(
            (a.value.clone(), a.schedule_hash, a.steps),
            (b.value, b.schedule_hash, b.steps),
            "seed {seed}"
        );
        let mut sorted = a.value.clone();
        sorted.sort_unstable();
        let want: Vec<u64> = (0..3)
            .flat_map(|s| (0..4).map(move |i| s * 10 + i))
            .collect();
        assert_eq!(sorted, want, "seed {seed}");
        orders.insert(a.value);
    }
    assert!(orders.len() >= 2, "one receive order for 20 seeds");
}

/// `is_simulated` holds inside a simulation only: not on a plain thread, nor in a real
/// runtime.
#[test]
fn is_simulated_inside_only() {
    assert!(!sim::is_simulated());
    assert!(sim::run(1, 2, sim::is_simulated));
    assert!(!gort::run(sim::is_simulated));
}

// ---------------------------------------------------------------------------------------
// 2. Channels
// ---------------------------------------------------------------------------------------

/// `producers` goroutines send `per` values each on a channel of capacity `cap` (`None`:
/// unbounded), `consumers` goroutines receive until disconnection. Every value arrives
/// exactly once, and each consumer sees each producer's values in the order they were
/// sent.
fn producers_consumers(cap: Option<usize>, producers: u64, consumers: usize, per: u64) {
    let (tx, rx) = match cap {
        Some(cap) => chan::bounded::<u64>(cap),
        None => chan::unbounded(),
    };
    for p in 0..producers {
        let tx = tx.clone();
        gort::spawn(move || {
            for i in 0..per {
                tx.send(p * 1000 + i).unwrap();
            }
        });
    }
    drop(tx);
    let hs: Vec<_> = (0..consumers)
        .map(|_| {
            let rx = rx.clone();
            gort::spawn(move || rx.iter().collect::<Vec<u64>>())
        })
        .collect();
    drop(rx);
    let mut all = Vec::new();
    for h in hs {
        let got = h.join().unwrap();
        for p in 0..producers {
            let mine: Vec<u64> = got.iter().copied().filter(|v| v / 1000 == p).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "FIFO per producer");
        }
        all.extend(got);
    }
    let sum: u64 = all.iter().sum();
    all.sort_unstable();
    let want: Vec<u64> = (0..producers)
        .flat_map(|p| (0..per).map(move |i| p * 1000 + i))
        .collect();
    assert_eq!(all, want, "every value exactly once");
    assert_eq!(sum, want.iter().sum::<u64>());
}

#[test]
fn unbuffered_channel_many_producers_and_consumers() {
    sim::check(SEEDS, 3, || producers_consumers(Some(0), 4, 3, 20));
}

#[test]
fn buffered_channel_many_producers_and_consumers() {
    sim::check(SEEDS, 2, || producers_consumers(Some(3), 4, 3, 20));
    sim::check(SEEDS, 4, || producers_consumers(Some(1), 3, 4, 20));
}

#[test]
fn unbounded_channel_many_producers_and_consumers() {
    sim::check(SEEDS, 4, || producers_consumers(None, 5, 2, 20));
}

/// An unbuffered send completes only when a receiver takes the value: a rendezvous.
#[test]
fn unbuffered_send_is_a_rendezvous() {
    sim::check(SEEDS, 3, || {
        let (tx, rx) = chan::bounded::<u32>(0);
        let taken = Arc::new(AtomicUsize::new(0));
        let t = taken.clone();
        let h = gort::spawn(move || {
            for i in 0..5 {
                tx.send(i).unwrap();
                // The receiver took value i before this send returned.
                assert!(t.load(SeqCst) > i as usize);
            }
        });
        for i in 0..5u32 {
            gort::yield_now();
            taken.fetch_add(1, SeqCst);
            // Counted as taken first (the sender may only check after the receive).
            assert_eq!(rx.recv(), Ok(i));
        }
        h.join().unwrap();
    });
}

/// `select!` over three channels fed by three producers (a disconnected arm is replaced
/// by a never-ready receiver): every value arrives once, then all three report `Err`.
#[test]
fn select_over_several_channels_merges_everything() {
    sim::check(SEEDS, 3, || {
        let (ta, mut ra) = chan::bounded::<u64>(0);
        let (tb, mut rb) = chan::bounded::<u64>(1);
        let (tc, mut rc) = chan::unbounded::<u64>();
        for (base, tx) in [(0u64, ta), (100, tb), (200, tc)] {
            gort::spawn(move || {
                for i in 0..10 {
                    tx.send(base + i).unwrap();
                }
            });
        }
        let (_keep, idle) = never::<u64>();
        let mut got = Vec::new();
        let mut open = 3;
        while open > 0 {
            gort::select! {
                recv(ra) -> v => match v {
                    Ok(v) => got.push(v),
                    Err(RecvError) => { open -= 1; ra = idle.clone(); }
                },
                recv(rb) -> v => match v {
                    Ok(v) => got.push(v),
                    Err(RecvError) => { open -= 1; rb = idle.clone(); }
                },
                recv(rc) -> v => match v {
                    Ok(v) => got.push(v),
                    Err(RecvError) => { open -= 1; rc = idle.clone(); }
                },
            }
        }
        for base in [0, 100, 200] {
            let mine: Vec<u64> = got
                .iter()
                .copied()
                .filter(|v| v / 100 == base / 100)
                .collect();
            assert_eq!(mine, (base..base + 10).collect::<Vec<_>>());
        }
        assert_eq!(got.len(), 30);
    });
}

/// `select!` with a send arm and a receive arm (an echo server's loop), a `default` arm
/// that runs when nothing is ready, and a `default(timeout)` arm on virtual time.
#[test]
fn select_send_recv_and_default_arms() {
    sim::check(SEEDS, 2, || {
        let (req_tx, req_rx) = chan::bounded::<u32>(0);
        let (resp_tx, resp_rx) = chan::bounded::<u32>(0);
        let server = gort::spawn(move || {
            let mut pending: VecDeque<u32> = VecDeque::new();
            let (_keep, idle) = never::<u32>();
            let mut req = req_rx;
            let mut served = 0;
            let mut open = true;
            while open || !pending.is_empty() {
                match pending.front().copied() {
                    Some(v) => gort::select! {
                        recv(req) -> r => match r {
                            Ok(x) => pending.push_back(x * 2),
                            Err(_) => { open = false; req = idle.clone(); }
                        },
                        send(resp_tx, v) -> r => {
                            r.unwrap();
                            pending.pop_front();
                            served += 1;
                        }
                    },
                    None => match req.recv() {
                        Ok(x) => pending.push_back(x * 2),
                        Err(_) => open = false,
                    },
                }
            }
            served
        });
        let client = gort::spawn(move || {
            for i in 0..10 {
                req_tx.send(i).unwrap();
            }
        });
        let got: Vec<u32> = resp_rx.iter().collect();
        client.join().unwrap();
        assert_eq!(server.join().unwrap(), 10);
        assert_eq!(got, (0..10).map(|i| i * 2).collect::<Vec<_>>());

        // Nothing ready: `default` runs at once, without moving the clock.
        let (_tx, rx) = chan::bounded::<u32>(1);
        let start = gort::time::now();
        let r = gort::select! {
            recv(rx) -> _ => "recv",
            default => "default",
        };
        assert_eq!(r, "default");
        assert_eq!(since(start), Duration::ZERO);
        // `default(timeout)`: runs after exactly the timeout in virtual time.
        let r = gort::select! {
            recv(rx) -> _ => "recv",
            default(Duration::from_secs(30)) => "timeout",
        };
        assert_eq!(r, "timeout");
        assert_eq!(since(start), Duration::from_secs(30));
    });
}

/// Disconnection: receivers drain what is buffered and then fail, a parked receiver is
/// woken by the last sender's drop, a send to a channel without receivers hands the
/// value back, and a sender parked on a full channel is woken by the last receiver's drop.
#[test]
fn close_and_disconnect_semantics() {
    sim::check(SEEDS, 3, || {
        // Buffered values outlive the senders.
        let (tx, rx) = chan::bounded::<u32>(4);
        for i in 0..4 {
            tx.send(i).unwrap();
        }
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        drop(tx);
        assert!(rx.is_disconnected());
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        // Parked receivers are woken by the last sender's drop.
        let (tx, rx) = chan::bounded::<u32>(0);
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                gort::spawn(move || rx.recv())
            })
            .collect();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let tx2 = tx.clone();
        gort::spawn(move || drop(tx2)).join().unwrap(); // not the last sender
        assert!(!rx.is_disconnected());
        gort::yield_now();
        drop(tx);
        for h in waiting {
            assert_eq!(h.join().unwrap(), Err(RecvError));
        }

        // No receivers: the send fails and hands the value back.
        let (tx, rx) = chan::bounded::<String>(1);
        drop(rx);
        let err: SendError<String> = tx.send("back".into()).unwrap_err();
        assert_eq!(err.into_inner(), "back");

        // A sender parked on a full channel is woken by the last receiver's drop.
        let (tx, rx) = chan::bounded::<u32>(1);
        tx.send(1).unwrap();
        let blocked = gort::spawn(move || tx.send(2));
        let rx2 = rx.clone();
        gort::spawn(move || {
            gort::yield_now();
            drop(rx2);
        });
        gort::yield_now();
        drop(rx);
        assert_eq!(blocked.join().unwrap(), Err(SendError(2)));
    });
}

// ---------------------------------------------------------------------------------------
// 2. gort::sync
// ---------------------------------------------------------------------------------------

/// A counter behind a gort Mutex, read and written back with a scheduling point in
/// between: any breach of mutual exclusion loses an increment.
#[test]
fn mutex_counter_with_many_goroutines() {
    sim::check(SEEDS, 4, || {
        let counter = Arc::new(Mutex::new(0u64));
        let inside = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (counter, inside) = (counter.clone(), inside.clone());
                gort::spawn(move || {
                    for _ in 0..10 {
                        let mut g = counter.lock();
                        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders");
                        let v = *g;
                        gort::yield_now(); // a scheduling point inside the section
                        *g = v + 1;
                        inside.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*counter.lock(), 80);
        assert!(!counter.is_locked());
    });
}

/// Readers share the lock (and never see a half-done write), writers exclude everyone.
#[test]
fn rwlock_readers_and_writers() {
    sim::check(SEEDS, 3, || {
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        // Readers inside (low 16 bits) and writers inside (above).
        let state = Arc::new(AtomicUsize::new(0));
        const WRITER: usize = 1 << 16;
        let mut hs = Vec::new();
        for _ in 0..3 {
            let (lock, state) = (lock.clone(), state.clone());
            hs.push(gort::spawn(move || {
                for _ in 0..5 {
                    let mut g = lock.write();
                    assert_eq!(state.fetch_add(WRITER, SeqCst), 0, "writer not alone");
                    g.0 += 1;
                    gort::yield_now(); // the pair is inconsistent here
                    g.1 += 1;
                    state.fetch_sub(WRITER, SeqCst);
                }
            }));
        }
        for _ in 0..4 {
            let (lock, state) = (lock.clone(), state.clone());
            hs.push(gort::spawn(move || {
                for _ in 0..5 {
                    let g = lock.read();
                    assert!(state.fetch_add(1, SeqCst) < WRITER, "reader with a writer");
                    assert_eq!(g.0, g.1, "torn write seen");
                    gort::yield_now();
                    assert_eq!(g.0, g.1, "write during a read");
                    state.fetch_sub(1, SeqCst);
                }
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*lock.read(), (15, 15));
    });
}

/// A bounded queue built from a Mutex and two Condvars: producers wait while it is full,
/// consumers while it is empty; every item is consumed exactly once.
#[test]
fn condvar_bounded_queue() {
    struct Queue {
        items: Mutex<(VecDeque<u64>, usize)>, // items, producers still running
        not_empty: Condvar,
        not_full: Condvar,
    }
    sim::check(SEEDS, 3, || {
        let q = Arc::new(Queue {
            items: Mutex::new((VecDeque::new(), 3)),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        });
        for p in 0..3u64 {
            let q = q.clone();
            gort::spawn(move || {
                for i in 0..10 {
                    let g = q.items.lock();
                    let mut g = q.not_full.wait_while(g, |s| s.0.len() >= 2);
                    g.0.push_back(p * 100 + i);
                    drop(g);
                    q.not_empty.notify_one();
                }
                q.items.lock().1 -= 1;
                q.not_empty.notify_all();
            });
        }
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                gort::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        let g = q.items.lock();
                        let mut g = q.not_empty.wait_while(g, |s| s.0.is_empty() && s.1 > 0);
                        match g.0.pop_front() {
                            Some(v) => {
                                drop(g);
                                q.not_full.notify_one();
                                got.push(v);
                            }
                            None => return got, // empty and no producer left
                        }
                    }
                })
            })
            .collect();
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        let want: Vec<u64> = (0..3)
            .flat_map(|p| (0..10).map(move |i| p * 100 + i))
            .collect();
        assert_eq!(all, want);
    });
}

/// `wait` returns once every `done` happened, and not before.
#[test]
fn waitgroup_waits_for_all() {
    sim::check(SEEDS, 3, || {
        let wg = WaitGroup::new();
        let finished = Arc::new(AtomicUsize::new(0));
        wg.add(6);
        for i in 0..6u64 {
            let (wg, finished) = (wg.clone(), finished.clone());
            gort::spawn(move || {
                for _ in 0..i {
                    gort::yield_now();
                }
                if i % 2 == 0 {
                    gort::time::sleep(Duration::from_millis(i));
                }
                finished.fetch_add(1, SeqCst);
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(finished.load(SeqCst), 6);
        assert_eq!(wg.count(), 0);
        // Waiting on a zero counter returns at once.
        wg.wait();
    });
}

/// At most `permits` goroutines hold a permit at once; all get one eventually.
#[test]
fn semaphore_limits_concurrency() {
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    sim::check(SEEDS, 4, || {
        let sem = Arc::new(Semaphore::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..6)
            .map(|_| {
                let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
                gort::spawn(move || {
                    for _ in 0..3 {
                        let _permit = sem.acquire();
                        let n = inside.fetch_add(1, SeqCst) + 1;
                        assert!(n <= 2, "{n} holders of 2 permits");
                        peak.fetch_max(n, SeqCst);
                        gort::yield_now();
                        inside.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 2);
        PEAK.fetch_max(peak.load(SeqCst), SeqCst);
    });
    if std::env::var_os(sim::SEED_VAR).is_none() {
        // Some schedule had both permits taken at once.
        assert_eq!(PEAK.load(SeqCst), 2);
    }
}

/// Nobody leaves a barrier before everyone arrived; one leader per round; reusable.
#[test]
fn barrier_rounds() {
    sim::check(SEEDS, 3, || {
        const N: usize = 4;
        let barrier = Arc::new(Barrier::new(N));
        let arrived = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let (barrier, arrived) = (barrier.clone(), arrived.clone());
                gort::spawn(move || {
                    let mut leaders = 0;
                    for round in 1..=3 {
                        gort::yield_now();
                        arrived.fetch_add(1, SeqCst);
                        if barrier.wait().is_leader() {
                            leaders += 1;
                        }
                        // All of this round arrived; nobody can be past the next one.
                        assert!(arrived.load(SeqCst) >= round * N);
                        assert!(arrived.load(SeqCst) <= (round + 1) * N);
                    }
                    leaders
                })
            })
            .collect();
        let leaders: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(leaders, 3, "one leader per round");
        assert_eq!(arrived.load(SeqCst), 3 * N);
    });
}

/// `call_once` runs its closure once, and every caller returns only after it finished,
/// even when the closure reaches a scheduling point; `OnceLock` likewise.
#[test]
fn once_and_oncelock_initialise_once() {
    sim::check(SEEDS, 4, || {
        let once = Arc::new(Once::new());
        let cell = Arc::new(OnceLock::<u64>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..6u64)
            .map(|i| {
                let (once, cell, runs) = (once.clone(), cell.clone(), runs.clone());
                gort::spawn(move || {
                    once.call_once(|| {
                        gort::yield_now();
                        runs.fetch_add(1, SeqCst);
                    });
                    assert!(once.is_completed());
                    assert_eq!(runs.load(SeqCst), 1);
                    *cell.get_or_init(|| {
                        gort::yield_now();
                        100 + i
                    })
                })
            })
            .collect();
        let values: HashSet<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(values.len(), 1, "OnceLock gave several values: {values:?}");
        assert_eq!(Some(values.iter().next().unwrap()), cell.get());
        assert_eq!(runs.load(SeqCst), 1);
    });
}

// ---------------------------------------------------------------------------------------
// 2. Goroutines: join, panics, blocking
// ---------------------------------------------------------------------------------------

/// `join` returns each goroutine's value, or `Err` with the payload of its panic; the
/// other goroutines and the program go on.
#[test]
fn join_returns_values_and_panics() {
    quiet_planned_panics();
    sim::check(0..100, 3, || {
        let hs: Vec<_> = (0..6u64)
            .map(|i| {
                gort::spawn(move || {
                    gort::yield_now();
                    if i % 3 == 0 {
                        panic!("{PLANNED} in goroutine {i}");
                    }
                    i * 10
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            match h.join() {
                Ok(v) => {
                    assert_ne!(i % 3, 0);
                    assert_eq!(v, i as u64 * 10);
                }
                Err(payload) => {
                    assert_eq!(i % 3, 0, "goroutine {i} panicked");
                    let text = payload_text(&*payload);
                    assert_eq!(text, format!("{PLANNED} in goroutine {i}"));
                }
            }
        }
        // A panic while holding a channel end disconnects it.
        let (tx, rx) = chan::bounded::<u32>(0);
        let h = gort::spawn(move || {
            let _tx = tx;
            panic!("{PLANNED} with a sender");
        });
        assert_eq!(rx.recv(), Err(RecvError));
        assert!(h.join().is_err());
    });
}

/// A panic of the main goroutine is the run's failure, with its text.
#[test]
fn main_goroutine_panic_is_a_failure() {
    quiet_planned_panics();
    let e: Failure = sim::try_run(5, 2, || {
        gort::yield_now();
        panic!("{PLANNED} in main");
    })
    .unwrap_err();
    assert_eq!(e.seed, 5);
    assert!(e.message.contains("panicked"), "{}", e.message);
    assert!(
        e.message.contains(&format!("{PLANNED} in main")),
        "{}",
        e.message
    );
}

/// `blocking` runs its closure inline in a simulation: results come back, a panic in it
/// reaches the goroutine, and goroutines around it keep going.
#[test]
fn blocking_inside_simulation() {
    quiet_planned_panics();
    sim::check(0..200, 3, || {
        let (tx, rx) = chan::unbounded::<u64>();
        let hs: Vec<_> = (0..4u64)
            .map(|i| {
                let tx = tx.clone();
                gort::spawn(move || {
                    let v = gort::blocking(|| (0..=i * 100).sum::<u64>());
                    tx.send(v).unwrap();
                    gort::blocking(|| std::fs::metadata(env!("CARGO_MANIFEST_DIR")).is_ok())
                })
            })
            .collect();
        drop(tx);
        for h in hs {
            assert!(h.join().unwrap());
        }
        let mut got: Vec<u64> = rx.iter().collect();
        got.sort_unstable();
        assert_eq!(got, vec![0, 5050, 20100, 45150]);
        let h = gort::spawn(|| gort::blocking(|| -> u32 { panic!("{PLANNED} in blocking") }));
        let text = payload_text(&*h.join().unwrap_err());
        assert_eq!(text, format!("{PLANNED} in blocking"));
    });
}

// ---------------------------------------------------------------------------------------
// 3. Virtual time
// ---------------------------------------------------------------------------------------

/// An hour-long sleep advances the virtual clock by an hour and takes (almost) no real
/// time; ten goroutines sleeping an hour each at once take one virtual hour.
#[test]
fn an_hour_of_sleep_is_virtual() {
    let real = Instant::now();
    let (slept, together) = sim::run(3, 2, || {
        let start = gort::time::now();
        gort::time::sleep(Duration::from_secs(3600));
        let slept = since(start);
        let start = gort::time::now();
        let hs: Vec<_> = (0..10)
            .map(|_| gort::spawn(|| gort::time::sleep(Duration::from_secs(3600))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        (slept, since(start))
    });
    let real = real.elapsed();
    assert!(slept >= Duration::from_secs(3600), "{slept:?}");
    assert!(slept < Duration::from_secs(3601), "{slept:?}");
    assert!(together >= Duration::from_secs(3600), "{together:?}");
    assert!(together < Duration::from_secs(3601), "{together:?}");
    assert!(
        real < Duration::from_secs(5),
        "an hour of virtual sleep took {real:?}"
    );
}

/// Goroutines sleeping different durations wake in deadline order whatever the seed
/// and the spawn order, each exactly at its deadline.
#[test]
fn timers_fire_in_deadline_order() {
    sim::check(SEEDS, 4, || {
        const MS: [u64; 9] = [70, 30, 90, 10, 50, 20, 80, 40, 60];
        let start = gort::time::now();
        let woke = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = MS
            .iter()
            .map(|&ms| {
                let woke = woke.clone();
                gort::spawn(move || {
                    gort::time::sleep(Duration::from_millis(ms));
                    woke.lock().push((ms, since(start)));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let woke = woke.lock().clone();
        let order: Vec<u64> = woke.iter().map(|w| w.0).collect();
        assert_eq!(order, vec![10, 20, 30, 40, 50, 60, 70, 80, 90]);
        for (ms, at) in woke {
            assert_eq!(at, Duration::from_millis(ms), "timer of {ms} ms");
        }
    });
}

/// `after`, `recv_timeout`, `send_timeout`, timed locks and waits, and a `Ticker`, all on
/// virtual time.
#[test]
fn timeouts_on_virtual_time() {
    let real = Instant::now();
    sim::check(0..100, 3, || {
        let start = gort::time::now();
        // after: fires once, d from now.
        let fired = gort::time::after(Duration::from_secs(90)).recv().unwrap();
        assert_eq!(fired - start, Duration::from_secs(90));
        assert_eq!(since(start), Duration::from_secs(90));

        // recv_timeout: times out when the value comes later, then gets it.
        let (tx, rx) = chan::bounded::<u32>(0);
        let start = gort::time::now();
        gort::spawn(move || {
            gort::time::sleep(Duration::from_secs(20));
            tx.send(7).unwrap();
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Timeout)
        );
        assert_eq!(since(start), Duration::from_secs(10));
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Ok(7));
        assert_eq!(since(start), Duration::from_secs(20));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(60)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert_eq!(
            since(start),
            Duration::from_secs(20),
            "disconnected: no wait"
        );

        // send_timeout on a full channel.
        let (tx, _rx) = chan::bounded::<u32>(1);
        tx.send(1).unwrap();
        let start = gort::time::now();
        let e = tx.send_timeout(2, Duration::from_secs(5)).unwrap_err();
        assert!(e.is_timeout());
        assert_eq!(e.into_inner(), 2);
        assert_eq!(since(start), Duration::from_secs(5));

        // A timed lock and a timed wait.
        let m = Arc::new(Mutex::new(0u32));
        let cv = Arc::new(Condvar::new());
        let (m2, cv2) = (m.clone(), cv.clone());
        let g = m.lock();
        let start = gort::time::now();
        let h = gort::spawn(move || {
            let got = m2.try_lock_for(Duration::from_secs(3)).is_some();
            let g = m2.lock();
            let (g, res) = cv2.wait_timeout(g, Duration::from_secs(4));
            (got, res.timed_out(), *g)
        });
        gort::time::sleep(Duration::from_secs(10));
        drop(g);
        assert_eq!(h.join().unwrap(), (false, true, 0));
        assert_eq!(since(start), Duration::from_secs(14));

        // Ticker: ticks at start + k * period exactly.
        let start = gort::time::now();
        let ticker = gort::time::Ticker::new(Duration::from_millis(250));
        for k in 1..=4u32 {
            assert_eq!(
                ticker.recv().unwrap() - start,
                Duration::from_millis(250) * k
            );
        }
        drop(ticker);
    });
    assert!(real.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------
// 4. Networking
// ---------------------------------------------------------------------------------------

/// Sockets are refused with `Unsupported` and a message that says why.
#[test]
fn networking_is_unsupported_in_simulation() {
    let (tcp, udp, connect) = sim::run(0, 2, || {
        let tcp = gort::net::TcpListener::bind("127.0.0.1:0").map(drop);
        let udp = gort::net::UdpSocket::bind("127.0.0.1:0").map(drop);
        let connect = gort::net::TcpStream::connect("127.0.0.1:9").map(drop);
        (tcp, udp, connect)
    });
    for (what, r) in [
        ("TcpListener::bind", tcp),
        ("UdpSocket::bind", udp),
        ("TcpStream::connect", connect),
    ] {
        let e = r.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{what}: {e}");
        assert!(e.to_string().contains("simulation"), "{what}: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// 5. Deadlock
// ---------------------------------------------------------------------------------------

/// Main waits on a channel nobody sends on: the run fails with a deadlock report that
/// names the seed, and its Display carries the replay command.
#[test]
fn deadlock_is_reported_with_seed_and_replay() {
    let e = sim::try_run(4242, 2, || {
        let (tx, rx) = chan::bounded::<u32>(0);
        let _keep = tx;
        rx.recv()
    })
    .unwrap_err();
    assert_eq!(e.seed, 4242);
    assert!(e.message.contains("deadlock"), "{}", e.message);
    assert!(e.message.contains("chan receive"), "{}", e.message);
    let shown = e.to_string();
    assert!(shown.contains("seed 4242"), "{shown}");
    assert!(shown.contains("GORT_SIM_SEED=4242"), "{shown}");
    let replay = shown
        .lines()
        .find(|l| l.starts_with("replay: "))
        .expect(&shown);
    assert!(
        replay.contains("--test sim")
            && replay.contains("deadlock_is_reported_with_seed_and_replay --exact"),
        "{replay}"
    );

    // A pending timer only postpones the verdict: the clock jumps past it first.
    let e = sim::try_run(1, 3, || {
        let (tx, rx) = chan::bounded::<u32>(0);
        gort::spawn(move || {
            gort::time::sleep(Duration::from_secs(600));
            let _keep = tx;
            gort::park();
        });
        rx.recv()
    })
    .unwrap_err();
    assert!(e.message.contains("deadlock"), "{}", e.message);

    // `run` panics with the same report and the replay command.
    let text = expect_panic(|| {
        sim::run(77, 2, || {
            let wg = WaitGroup::new();
            wg.add(1);
            wg.wait();
        })
    });
    assert!(
        text.contains("deadlock") && text.contains("seed 77"),
        "{text}"
    );
    assert!(
        text.contains("replay:") && text.contains("GORT_SIM_SEED=77"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// 6. A planted lost-wakeup bug, found by searching seeds
// ---------------------------------------------------------------------------------------

/// A test-only channel: a queue behind a gort Mutex plus the receiver waiting on it.
///
/// With `lost_wakeup` set (the planted bug), `recv` finds the queue empty, reaches a scheduling
/// point, then registers itself as the waiter and parks *without looking at the queue
/// again*. A `send` that runs in that window finds no waiter, so it wakes nobody, and
/// its item sits in the queue while the receiver sleeps forever. The correct version
/// looks again after registering (under the same lock as `send`).
struct Handoff<T> {
    state: Mutex<(VecDeque<T>, Option<gort::Goroutine>)>,
    lost_wakeup: bool,
}

impl<T> Handoff<T> {
    fn new(lost_wakeup: bool) -> Self {
        Handoff {
            state: Mutex::new((VecDeque::new(), None)),
            lost_wakeup,
        }
    }

    fn send(&self, v: T) {
        let mut s = self.state.lock();
        s.0.push_back(v);
        if let Some(waiter) = s.1.take() {
            waiter.unpark();
        }
    }

    fn recv(&self) -> T {
        loop {
            if let Some(v) = self.state.lock().0.pop_front() {
                return v;
            }
            gort::yield_now(); // the window: a send here finds no waiter
            {
                let mut s = self.state.lock();
                if !self.lost_wakeup {
                    if let Some(v) = s.0.pop_front() {
                        return v;
                    }
                }
                s.1 = Some(gort::current());
            }
            gort::park(); // may return spuriously: the loop looks again
        }
    }
}

// When this was written, with these settings the first failing seed was 24 and 26 of
// the 1000 seeds failed (the test prints the current figures).
const BUG_PROCS: usize = 3;
const BUG_SEEDS: std::ops::Range<u64> = 0..1000;
const BUG_ITEMS: u64 = 5;

/// A producer that works a while (8 scheduling points) before each of 5 sends, and a
/// consumer that receives them. It deadlocks only when the *last* send lands in the
/// receiver's window (an earlier lost wakeup is repaired by the next send).
fn handoff_program(lost_wakeup: bool) -> u64 {
    let ch = Arc::new(Handoff::new(lost_wakeup));
    let producer = {
        let ch = ch.clone();
        gort::spawn(move || {
            for i in 1..=BUG_ITEMS {
                for _ in 0..8 {
                    gort::yield_now(); // work
                }
                ch.send(i);
            }
        })
    };
    let consumer = {
        let ch = ch.clone();
        gort::spawn(move || (0..BUG_ITEMS).map(|_| ch.recv()).sum::<u64>())
    };
    producer.join().unwrap();
    consumer.join().unwrap()
}

/// The same program over a gort channel.
fn chan_program() -> u64 {
    let (tx, rx) = chan::unbounded();
    let producer = gort::spawn(move || {
        for i in 1..=BUG_ITEMS {
            for _ in 0..8 {
                gort::yield_now();
            }
            tx.send(i).unwrap();
        }
    });
    let consumer = gort::spawn(move || (0..BUG_ITEMS).map(|_| rx.recv().unwrap()).sum::<u64>());
    producer.join().unwrap();
    consumer.join().unwrap()
}

const BUG_SUM: u64 = BUG_ITEMS * (BUG_ITEMS + 1) / 2;

/// A deadlock report without the time each goroutine has waited (`[join, 1 µs]:` reads
/// `[join]:`): the dump measures it on the real clock, so it differs between replays.
fn without_wait_times(report: &str) -> String {
    report
        .lines()
        .map(|l| match l.rfind(", ") {
            Some(i) if l.starts_with("goroutine") && l.ends_with("]:") => format!("{}]:", &l[..i]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every seed of `BUG_SEEDS` that makes `f` fail, with its failure; passing seeds must
/// give the right sum.
fn failing_seeds(f: fn() -> u64) -> Vec<Failure> {
    BUG_SEEDS
        .filter_map(|seed| match go_run(seed, BUG_PROCS, f) {
            Ok(Run { value, .. }) => {
                assert_eq!(value, BUG_SUM, "seed {seed}");
                None
            }
            Err(e) => Some(e),
        })
        .collect()
}

/// The seed search finds the lost wakeup on a minority of seeds (not on seed 0), every
/// failure is a deadlock with the receiver parked in `recv`, the failing seed replays to
/// the same failure, and the fixed channel (and a gort channel) pass every seed.
#[test]
fn planted_lost_wakeup_is_found_replayed_and_fixed() {
    let failures = failing_seeds(|| handoff_program(true));
    let seeds: Vec<u64> = failures.iter().map(|f| f.seed).collect();
    eprintln!(
        "planted lost wakeup: first failing seed {:?}, {} failing seeds out of {} (procs {BUG_PROCS}): {seeds:?}",
        seeds.first(),
        seeds.len(),
        BUG_SEEDS.end
    );
    let first = failures
        .first()
        .expect("no seed finds the planted lost wakeup");
    assert!(
        first.seed > 0,
        "seed 0 alone finds it: the program is too easy"
    );
    assert!(
        failures.len() < (BUG_SEEDS.end / 2) as usize,
        "{} of {} seeds fail: the bug should need a rare interleaving",
        failures.len(),
        BUG_SEEDS.end
    );
    for f in &failures {
        assert!(
            f.message.contains("all goroutines are asleep - deadlock!"),
            "{f}"
        );
        // The consumer sleeps in `gort::park` inside `Handoff::recv`, in this file.
        assert!(
            f.message.contains("park") && f.message.contains("sim.rs"),
            "{f}"
        );
    }

    // Replay: the first failing seed fails again with the same report, and the whole
    // search gives the same seeds again.
    let again = go_run(first.seed, BUG_PROCS, || handoff_program(true)).unwrap_err();
    assert_eq!(again.seed, first.seed);
    assert_eq!(
        without_wait_times(&again.message),
        without_wait_times(&first.message)
    );
    let seeds_again: Vec<u64> = failing_seeds(|| handoff_program(true))
        .iter()
        .map(|f| f.seed)
        .collect();
    assert_eq!(seeds_again, seeds);

    // Fixed: nothing fails.
    assert!(failing_seeds(|| handoff_program(false)).is_empty());
    assert!(failing_seeds(chan_program).is_empty());
}

/// `check` stops at the first failing seed and panics with the failure and a replay
/// command that names this test; run that command (this test binary, this test, the
/// seed in `GORT_SIM_SEED`) and it fails on that seed alone.
#[test]
fn planted_lost_wakeup_check_panics_with_replay_command() {
    const NAME: &str = "planted_lost_wakeup_check_panics_with_replay_command";
    if let Ok(only) = std::env::var(sim::SEED_VAR) {
        // The replay (or a user's GORT_SIM_SEED): `check` runs that seed only.
        let seed: u64 = only.trim().parse().expect("GORT_SIM_SEED");
        let lost = go_run(seed, BUG_PROCS, || handoff_program(true)).is_err();
        if lost {
            let text = expect_panic(|| {
                sim::check_with(go(BUG_PROCS), BUG_SEEDS, || {
                    handoff_program(true);
                })
            });
            assert!(text.contains(&format!("seed {seed} failed")), "{text}");
            assert!(text.contains("deadlock"), "{text}");
            eprintln!("replayed seed {seed}: deadlock");
        } else {
            eprintln!("seed {seed} does not lose the wakeup");
        }
        return;
    }

    let first = failing_seeds(|| handoff_program(true))
        .first()
        .map(|f| f.seed)
        .expect("no failing seed");
    let text = expect_panic(|| {
        sim::check_with(go(BUG_PROCS), BUG_SEEDS, || {
            handoff_program(true);
        })
    });
    assert!(text.contains(&format!("seed {first} failed")), "{text}");
    assert!(text.contains("deadlock"), "{text}");
    assert!(text.contains("replay:"), "{text}");
    let replay = text
        .lines()
        .find_map(|l| l.strip_prefix("replay: "))
        .expect(&text);
    assert_eq!(
        replay,
        format!(
            "{}GORT_SIM_SEED={first} cargo test --release --test sim -- {NAME} --exact",
            replay_env()
        )
    );

    // What that command runs: this test binary, this test only, with the seed set.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(sim::SEED_VAR, first.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "replay failed:\n{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("replayed seed {first}: deadlock")),
        "replay did not fail on seed {first}:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

// ---------------------------------------------------------------------------------------
// 7. Scheduling policies
// ---------------------------------------------------------------------------------------

/// A pipeline: producers with virtual sleeps, consumers that record what they took
/// behind a Mutex, a WaitGroup. Returns the values in the order they were recorded.
fn policy_scenario() -> Vec<u64> {
    let (tx, rx) = chan::bounded::<u64>(2);
    let tally = Arc::new(Mutex::new(Vec::new()));
    let wg = WaitGroup::new();
    for p in 0..4u64 {
        let tx = tx.clone();
        gort::spawn(move || {
            for i in 0..8 {
                if i % 3 == 0 {
                    gort::time::sleep(Duration::from_millis(p + 1));
                }
                tx.send(p * 8 + i).unwrap();
            }
        });
    }
    drop(tx);
    for _ in 0..3 {
        let (rx, tally, wg) = (rx.clone(), tally.clone(), wg.clone());
        wg.add(1);
        gort::spawn(move || {
            for v in rx.iter() {
                tally.lock().push(v);
                gort::yield_now();
            }
            wg.done();
        });
    }
    drop(rx);
    wg.wait();
    let tally = tally.lock().clone();
    tally
}

/// Under every built-in policy the scenario gives the right result for every seed, the
/// same seed gives the same schedule and order, and the policies do schedule differently.
#[test]
fn every_policy_is_deterministic_and_correct() {
    let builder = |name: &str| {
        gort::Builder::new()
            .procs(3)
            .policy(gort::policy::BuiltIn::by_name(name).unwrap())
    };
    let want: Vec<u64> = (0..32).collect();
    let mut per_policy = HashSet::new();
    for name in gort::policy::BuiltIn::NAMES {
        let mut hashes = Vec::new();
        for seed in 0..30 {
            let a = sim::try_run_with(builder(name), seed, policy_scenario)
                .unwrap_or_else(|e| panic!("policy {name}: {e}"));
            let b = sim::try_run_with(builder(name), seed, policy_scenario)
                .unwrap_or_else(|e| panic!("policy {name}: {e}"));
            assert_eq!(
                (a.schedule_hash, a.steps, &a.value),
                (b.schedule_hash, b.steps, &b.value),
                "policy {name} seed {seed}"
            );
            assert_eq!(
                a.value.iter().sum::<u64>(),
                496,
                "policy {name} seed {seed}"
            );
            let mut sorted = a.value;
            sorted.sort_unstable();
            assert_eq!(sorted, want, "policy {name} seed {seed}");
            hashes.push(a.schedule_hash);
        }
        let distinct: HashSet<u64> = hashes.iter().copied().collect();
        eprintln!("policy {name}: {} schedules for 30 seeds", distinct.len());
        assert!(
            distinct.len() > 1,
            "policy {name}: one schedule for 30 seeds"
        );
        per_policy.insert(hashes);
    }
    // The policy is really in charge in simulation: over 30 seeds, no two policies
    // give the same schedules.
    assert_eq!(per_policy.len(), gort::policy::BuiltIn::NAMES.len());
}

// ---------------------------------------------------------------------------------------
// Randomness and clocks inside the runtime follow the simulation
// ---------------------------------------------------------------------------------------

/// `select!` picks uniformly among ready arms; in simulation its generator is seeded by
/// the run's seed, so its choices replay (and differ between seeds).
#[test]
fn select_choices_replay_with_the_seed() {
    fn prog() -> Vec<u8> {
        let (ta, ra) = chan::bounded::<u8>(16);
        let (tb, rb) = chan::bounded::<u8>(16);
        for _ in 0..16 {
            ta.send(0).unwrap();
            tb.send(1).unwrap();
        }
        (0..16)
            .map(|_| gort::select! { recv(ra) -> v => v.unwrap(), recv(rb) -> v => v.unwrap() })
            .collect()
    }
    let mut seen = HashSet::new();
    for seed in 0..10 {
        let a = go_run(seed, 1, prog).unwrap();
        let b = go_run(seed, 1, prog).unwrap();
        assert_eq!(a.value, b.value, "seed {seed}");
        assert_eq!(a.schedule_hash, b.schedule_hash, "seed {seed}");
        seen.insert(a.value);
    }
    assert!(seen.len() > 1, "ten seeds made the same 16 choices");
}

/// The mutex's starvation mode (a waiter held off longer than 1 ms) measures waits on
/// the timer clock, so in simulation a virtual wait counts and real time does not.
#[test]
fn mutex_starvation_is_measured_on_virtual_time() {
    fn held_off(wait: fn()) -> bool {
        go_run(3, 1, move || {
            let m = Arc::new(Mutex::new(0u32));
            let g = m.lock();
            let waiter = {
                let m = m.clone();
                gort::spawn(move || *m.lock() += 1)
            };
            gort::yield_now(); // the waiter queues on the lock
            wait();
            drop(g);
            let again = m.lock(); // barge in before the woken waiter runs
            gort::yield_now(); // the waiter finds it taken after its wait
            let starving = m.is_starving();
            drop(again);
            waiter.join().unwrap();
            assert_eq!(*m.lock(), 1);
            starving
        })
        .unwrap()
        .value
    }
    assert!(held_off(|| gort::time::sleep(Duration::from_millis(5))));
    assert!(!held_off(|| gort::blocking(|| std::thread::sleep(
        Duration::from_millis(5)
    ))));
}

/// Real time spent inside a run (longer than the 10 ms slice a `runnext` chain inherits)
/// changes nothing: the simulated schedule depends on the seed alone.
#[test]
fn real_time_inside_a_run_does_not_change_the_schedule() {
    fn program(pause: Duration) -> impl FnOnce() -> u64 + Send + 'static {
        move || {
            let a = gort::spawn(|| 1u64);
            std::thread::sleep(pause); // no scheduling point
            let b = gort::spawn(|| 2u64);
            a.join().unwrap() + b.join().unwrap()
        }
    }
    let quick = go_run(1, 2, program(Duration::ZERO)).unwrap();
    let slow = go_run(1, 2, program(Duration::from_millis(12))).unwrap();
    assert_eq!(quick.value, 3);
    assert_eq!(
        (quick.schedule_hash, quick.steps),
        (slow.schedule_hash, slow.steps)
    );
}

//! Channels, `select!` and the timer channels: delivery exactly once under stress,
//! rendezvous, disconnection, timeouts, fairness, cross-thread use, teardown.
//!
//! Every test runs under a watchdog (`within`) so a lost wakeup fails the test instead
//! of hanging it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gort::chan::{
    self, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};
use gort::Runtime;

#[path = "support/bounded.rs"]
mod bounded;
use bounded::within;

const LIMIT: Duration = Duration::from_secs(60);

fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().unwrap()
}

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

// ---------------------------------------------------------------------------------------
// Exactly once under MPMC stress
// ---------------------------------------------------------------------------------------

/// 8 sending and 8 receiving goroutines on one channel: every value arrives exactly once,
/// and each receiver sees each sender's values in the order they were sent (FIFO).
fn mpmc_exactly_once(make: fn() -> (Sender<u64>, Receiver<u64>), per_sender: u64) {
    const SENDERS: u64 = 8;
    const RECEIVERS: usize = 8;
    let got = within(LIMIT, move || {
        rt(4).block_on(move || {
            let (tx, rx) = make();
            let senders: Vec<_> = (0..SENDERS)
                .map(|s| {
                    let tx = tx.clone();
                    gort::spawn(move || {
                        for i in 0..per_sender {
                            tx.send(s * per_sender + i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let receivers: Vec<_> = (0..RECEIVERS)
                .map(|_| {
                    let rx = rx.clone();
                    gort::spawn(move || rx.iter().collect::<Vec<u64>>())
                })
                .collect();
            drop(rx);
            for s in senders {
                s.join().unwrap();
            }
            receivers
                .into_iter()
                .map(|r| r.join().unwrap())
                .collect::<Vec<_>>()
        })
    });
    let total: usize = got.iter().map(Vec::len).sum();
    assert_eq!(total as u64, SENDERS * per_sender, "counts match");
    let mut seen = HashSet::new();
    for per_rx in &got {
        let mut last = vec![None; SENDERS as usize];
        for &v in per_rx {
            assert!(seen.insert(v), "value {v} received twice");
            let s = (v / per_sender) as usize;
            assert!(last[s] < Some(v), "sender {s}'s values out of order");
            last[s] = Some(v);
        }
    }
    assert_eq!(
        seen.len() as u64,
        SENDERS * per_sender,
        "every value received"
    );
    assert!(
        got.iter().filter(|v| !v.is_empty()).count() > 1,
        "the work was shared between receivers"
    );
}

#[test]
fn mpmc_exactly_once_unbuffered() {
    mpmc_exactly_once(|| chan::bounded(0), 10_000);
}

#[test]
fn mpmc_exactly_once_bounded_small() {
    mpmc_exactly_once(|| chan::bounded(3), 20_000);
}

#[test]
fn mpmc_exactly_once_unbounded() {
    mpmc_exactly_once(chan::unbounded, 20_000);
}

// ---------------------------------------------------------------------------------------
// Rendezvous
// ---------------------------------------------------------------------------------------

/// On an unbuffered channel a send returns only after a receiver has taken the value:
/// the receiver logs "waiting i" before it calls `recv`, the sender logs "sent i" after
/// `send` returns, and "waiting i" always comes first.
#[test]
fn unbuffered_send_completes_only_when_received() {
    let log = within(LIMIT, || {
        rt(2).block_on(|| {
            let log = Arc::new(Mutex::new(Vec::new()));
            let (tx, rx) = chan::bounded::<u32>(0);
            let l = log.clone();
            let sender = gort::spawn(move || {
                for i in 0..500 {
                    tx.send(i).unwrap();
                    l.lock().unwrap().push(('s', i));
                }
            });
            let l = log.clone();
            let receiver = gort::spawn(move || {
                for i in 0..500 {
                    l.lock().unwrap().push(('w', i));
                    assert_eq!(rx.recv().unwrap(), i);
                }
            });
            sender.join().unwrap();
            receiver.join().unwrap();
            Arc::try_unwrap(log).unwrap().into_inner().unwrap()
        })
    });
    for i in 0..500 {
        let w = log.iter().position(|&e| e == ('w', i)).unwrap();
        let s = log.iter().position(|&e| e == ('s', i)).unwrap();
        assert!(w < s, "send {i} returned before its receiver arrived");
    }
}

#[test]
fn unbuffered_send_without_receiver_does_not_complete() {
    within(LIMIT, || {
        let (tx, rx) = chan::bounded::<String>(0);
        assert_eq!(
            tx.try_send("a".into()),
            Err(TrySendError::Full("a".into())),
            "no receiver waiting: an unbuffered channel is always full"
        );
        let t = Instant::now();
        match tx.send_timeout("b".into(), Duration::from_millis(20)) {
            Err(SendTimeoutError::Timeout(v)) => assert_eq!(v, "b"),
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Empty),
            "nothing was left behind"
        );
        assert_eq!(tx.capacity(), Some(0));
        assert!(tx.is_full() && rx.is_empty());
    });
}

/// A ping-pong over two unbuffered channels on one P: the values alternate strictly.
#[test]
fn unbuffered_ping_pong_on_one_p() {
    within(LIMIT, || {
        rt(1).block_on(|| {
            let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
            let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
            let echo = gort::spawn(move || {
                for v in ping_rx {
                    pong_tx.send(v + 1).unwrap();
                }
            });
            for i in 0..10_000 {
                ping_tx.send(i * 2).unwrap();
                assert_eq!(pong_rx.recv().unwrap(), i * 2 + 1);
            }
            drop(ping_tx);
            echo.join().unwrap();
        })
    });
}

// ---------------------------------------------------------------------------------------
// Disconnection
// ---------------------------------------------------------------------------------------

#[test]
fn send_after_every_receiver_is_gone_returns_the_value() {
    within(LIMIT, || {
        for make in [|| chan::bounded(0), || chan::bounded(2), chan::unbounded] {
            let (tx, rx) = make();
            let rx2 = rx.clone();
            drop(rx);
            assert!(!tx.is_disconnected(), "one receiver is left");
            drop(rx2);
            assert!(tx.is_disconnected());
            let v: Box<String> = Box::new("precious".into());
            match tx.send(v) {
                Err(SendError(v)) => assert_eq!(*v, "precious"),
                Ok(()) => panic!("sent to nobody"),
            }
            assert!(matches!(
                tx.try_send(Box::new("x".into())),
                Err(TrySendError::Disconnected(v)) if *v == "x"
            ));
            assert!(matches!(
                tx.send_timeout(Box::new("y".into()), Duration::from_secs(1)),
                Err(SendTimeoutError::Disconnected(v)) if *v == "y"
            ));
        }
    });
}

#[test]
fn blocked_sender_gets_its_value_back_when_receivers_go() {
    within(LIMIT, || {
        rt(1).block_on(|| {
            for cap in [0, 1] {
                let (tx, rx) = chan::bounded::<String>(cap);
                if cap == 1 {
                    tx.send("fills the buffer".into()).unwrap();
                }
                let sender = gort::spawn(move || tx.send("mine".into()));
                // One P: the sender runs until it parks, then we resume.
                gort::yield_now();
                assert!(!sender.is_finished(), "the sender is parked");
                drop(rx);
                match sender.join().unwrap() {
                    Err(SendError(v)) => assert_eq!(v, "mine"),
                    Ok(()) => panic!("sent to nobody"),
                }
            }
        })
    });
}

#[test]
fn recv_drains_the_buffer_then_reports_disconnection() {
    within(LIMIT, || {
        for make in [|| chan::bounded(8), chan::unbounded] {
            let (tx, rx) = make();
            let tx2 = tx.clone();
            for i in 0..3 {
                tx.send(i).unwrap();
            }
            drop(tx);
            tx2.send(3).unwrap();
            assert!(!rx.is_disconnected(), "one sender is left");
            drop(tx2);
            assert!(rx.is_disconnected());
            assert_eq!(rx.len(), 4);
            assert_eq!(rx.recv(), Ok(0));
            assert_eq!(rx.try_recv(), Ok(1));
            assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Ok(2));
            assert_eq!(rx.iter().collect::<Vec<_>>(), vec![3]);
            assert_eq!(rx.recv(), Err(RecvError));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(1)),
                Err(RecvTimeoutError::Disconnected)
            );
        }
    });
}

#[test]
fn blocked_receivers_wake_when_senders_go() {
    within(LIMIT, || {
        rt(2).block_on(|| {
            let (tx, rx) = chan::bounded::<u8>(0);
            let rs: Vec<_> = (0..10)
                .map(|_| {
                    let rx = rx.clone();
                    gort::spawn(move || rx.recv())
                })
                .collect();
            drop(tx);
            for r in rs {
                assert_eq!(r.join().unwrap(), Err(RecvError));
            }
        })
    });
}

#[test]
fn last_receiver_drops_buffered_values() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = chan::bounded(4);
    for _ in 0..3 {
        tx.send(CountOnDrop(dropped.clone())).unwrap();
    }
    drop(rx);
    assert_eq!(dropped.load(SeqCst), 3);
}

// ---------------------------------------------------------------------------------------
// try_ and timeout variants
// ---------------------------------------------------------------------------------------

#[test]
fn try_and_timeout_variants_report_the_right_error() {
    within(LIMIT, || {
        let (tx, rx) = chan::bounded::<i32>(1);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.try_send(1), Ok(()));
        assert!(tx.is_full());
        assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
        assert!(tx.try_send(2).unwrap_err().is_full());
        let t = Instant::now();
        assert_eq!(
            tx.send_timeout(3, Duration::from_millis(15)),
            Err(SendTimeoutError::Timeout(3))
        );
        assert!(t.elapsed() >= Duration::from_millis(15));
        assert_eq!(
            tx.send_deadline(4, Instant::now()),
            Err(SendTimeoutError::Timeout(4))
        );
        assert_eq!(rx.try_recv(), Ok(1));
        let t = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(15)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(15));
        assert!(rx
            .recv_deadline(Instant::now() + Duration::from_millis(1))
            .unwrap_err()
            .is_timeout());
        assert_eq!(tx.send_timeout(5, Duration::from_secs(5)), Ok(()));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(5));
        assert_eq!(rx.try_iter().count(), 0);
        drop(rx);
        assert!(tx.try_send(6).unwrap_err().is_disconnected());
        assert_eq!(tx.try_send(6).unwrap_err().into_inner(), 6);

        // Display / Error like std's and crossbeam's.
        let e: Box<dyn std::error::Error> = Box::new(SendError(1));
        assert_eq!(e.to_string(), "sending on a disconnected channel");
        assert_eq!(
            RecvError.to_string(),
            "receiving on an empty and disconnected channel"
        );
        assert_eq!(
            TrySendError::Full(()).to_string(),
            "sending on a full channel"
        );
        assert_eq!(
            TryRecvError::Empty.to_string(),
            "receiving on an empty channel"
        );
        assert_eq!(
            RecvTimeoutError::Timeout.to_string(),
            "timed out waiting on receive operation"
        );
        assert_eq!(
            SendTimeoutError::Timeout(()).to_string(),
            "timed out waiting on send operation"
        );
        assert_eq!(format!("{:?}", SendError(vec![1])), "SendError(..)");
    });
}

/// A goroutine's timeout parks it (its P runs others meanwhile) and a value arriving
/// before the deadline wins.
#[test]
fn timeouts_from_goroutines() {
    within(LIMIT, || {
        rt(1).block_on(|| {
            let (tx, rx) = chan::bounded::<u32>(0);
            let waiter = gort::spawn(move || rx.recv_timeout(Duration::from_secs(30)));
            gort::yield_now();
            assert!(!waiter.is_finished());
            tx.send(9).unwrap();
            assert_eq!(waiter.join().unwrap(), Ok(9));

            let (_tx, rx) = chan::bounded::<u32>(0);
            let t = Instant::now();
            let waiter = gort::spawn(move || rx.recv_timeout(Duration::from_millis(20)));
            let busy = gort::spawn(|| (0..1000u64).sum::<u64>());
            assert_eq!(
                busy.join().unwrap(),
                499_500,
                "the P was free while waiting"
            );
            assert_eq!(waiter.join().unwrap(), Err(RecvTimeoutError::Timeout));
            assert!(t.elapsed() >= Duration::from_millis(20));
        })
    });
}

#[test]
fn len_capacity_and_iterators() {
    let (tx, rx) = chan::unbounded::<u32>();
    assert_eq!(tx.capacity(), None);
    assert!(!tx.is_full());
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert_eq!((tx.len(), rx.len()), (5, 5));
    assert_eq!(rx.try_iter().take(2).collect::<Vec<_>>(), vec![0, 1]);
    let (b, _) = chan::bounded::<u8>(7);
    assert_eq!(b.capacity(), Some(7));
    drop(tx);
    let mut rest = Vec::new();
    for v in &rx {
        rest.push(v);
    }
    assert_eq!(rest, vec![2, 3, 4]);
    let (tx, rx) = chan::bounded(2);
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(rx.into_iter().collect::<Vec<_>>(), vec![1]);
}

// ---------------------------------------------------------------------------------------
// select!
// ---------------------------------------------------------------------------------------

/// Two always-ready arms over 100,000 rounds: each is chosen 45–55% of the time.
#[test]
fn select_fairness_between_two_ready_arms() {
    let (a, b) = within(LIMIT, || {
        rt(1).block_on(|| {
            let (tx1, rx1) = chan::bounded::<u8>(1);
            let (tx2, rx2) = chan::bounded::<u8>(1);
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
            let (mut a, mut b) = (0u32, 0u32);
            for _ in 0..100_000 {
                gort::select! {
                    recv(rx1) -> v => { a += 1; tx1.try_send(v.unwrap()).unwrap(); }
                    recv(rx2) -> v => { b += 1; tx2.try_send(v.unwrap()).unwrap(); }
                }
            }
            (a, b)
        })
    });
    assert_eq!(a + b, 100_000);
    for n in [a, b] {
        assert!((45_000..=55_000).contains(&n), "unfair: {a} vs {b}");
    }
}

#[test]
fn select_with_default_runs_default_only_when_nothing_is_ready() {
    within(LIMIT, || {
        let (tx, rx) = chan::bounded::<i32>(1);
        let r = gort::select! {
            recv(rx) -> _ => "recv",
            default => "default",
        };
        assert_eq!(r, "default");
        tx.send(4).unwrap();
        let r = gort::select! {
            recv(rx) -> v => v.unwrap(),
            default => -1,
        };
        assert_eq!(r, 4);
        // A send arm is ready when there is room.
        let r = gort::select! {
            send(tx, 5) -> res => res.is_ok(),
            default => false,
        };
        assert!(r);
        let r = gort::select! {
            send(tx, 6) -> _ => "sent",
            default => "full",
        };
        assert_eq!(r, "full");
    });
}

#[test]
fn select_timeout_fires_when_nothing_arrives() {
    within(LIMIT, || {
        rt(2).block_on(|| {
            let (_tx, rx) = chan::bounded::<i32>(0);
            let (tx2, _rx2) = chan::bounded::<i32>(0);
            let t = Instant::now();
            let r = gort::select! {
                recv(rx) -> _ => "recv",
                send(tx2, 1) -> _ => "send",
                default(Duration::from_millis(30)) => "timeout",
            };
            assert_eq!(r, "timeout");
            let e = t.elapsed();
            assert!(e >= Duration::from_millis(30), "{e:?}");
            // After the timeout the select left no waiter behind on either channel.
            assert_eq!(_tx.try_send(1), Err(TrySendError::Full(1)));
            assert_eq!(_rx2.try_recv(), Err(TryRecvError::Empty));

            // A value arriving before the timeout wins.
            let (tx, rx) = chan::bounded::<i32>(0);
            gort::spawn(move || tx.send(11).unwrap());
            let r = gort::select! {
                recv(rx) -> v => v.unwrap(),
                default(Duration::from_secs(30)) => -1,
            };
            assert_eq!(r, 11);
        })
    });
}

/// A select with no ready arm parks once on all of them; a send on any one wakes it,
/// that arm runs, and the others are left without a waiter.
#[test]
fn select_parks_on_all_arms_and_the_first_wakes_it() {
    within(LIMIT, || {
        rt(1).block_on(|| {
            let chans: Vec<_> = (0..3).map(|_| chan::bounded::<usize>(0)).collect();
            for round in 0..300 {
                let which = round % 3;
                let rxs: Vec<Receiver<usize>> = chans.iter().map(|c| c.1.clone()).collect();
                let selector = gort::spawn(move || {
                    gort::select! {
                        recv(rxs[0]) -> v => (0, v.unwrap()),
                        recv(rxs[1]) -> v => (1, v.unwrap()),
                        recv(rxs[2]) -> v => (2, v.unwrap()),
                    }
                });
                gort::yield_now(); // one P: the selector runs until it parks
                assert!(!selector.is_finished(), "nothing was ready");
                for (i, c) in chans.iter().enumerate() {
                    if i != which {
                        assert_eq!(c.1.try_recv(), Err(TryRecvError::Empty));
                    }
                }
                chans[which].0.send(round).unwrap();
                assert_eq!(selector.join().unwrap(), (which, round));
                for c in &chans {
                    assert_eq!(
                        c.0.try_send(0),
                        Err(TrySendError::Full(0)),
                        "no receiver left waiting after the select"
                    );
                }
            }
        })
    });
}

/// Selects racing on both ends: 4 goroutines select over receiving from two unbuffered
/// channels while 4 others select over sending to them; every value arrives exactly once.
#[test]
fn select_claim_races_deliver_exactly_once() {
    const PER: u64 = 5_000;
    let got = within(LIMIT, || {
        rt(4).block_on(|| {
            let (txa, rxa) = chan::bounded::<u64>(0);
            let (txb, rxb) = chan::bounded::<u64>(0);
            let senders: Vec<_> = (0..4u64)
                .map(|s| {
                    let (txa, txb) = (txa.clone(), txb.clone());
                    gort::spawn(move || {
                        for i in 0..PER {
                            let v = s * PER + i;
                            gort::select! {
                                send(txa, v) -> r => r.unwrap(),
                                send(txb, v) -> r => r.unwrap(),
                            }
                        }
                    })
                })
                .collect();
            drop((txa, txb));
            let receivers: Vec<_> = (0..4)
                .map(|_| {
                    let (rxa, rxb) = (rxa.clone(), rxb.clone());
                    gort::spawn(move || {
                        let mut got = Vec::new();
                        let (mut a_open, mut b_open) = (true, true);
                        while a_open || b_open {
                            gort::select! {
                                recv(rxa) -> v => match v {
                                    Ok(v) => got.push(v),
                                    Err(_) => a_open = false,
                                },
                                recv(rxb) -> v => match v {
                                    Ok(v) => got.push(v),
                                    Err(_) => b_open = false,
                                },
                            }
                            // Once one side is closed, keep receiving from the other.
                            if !a_open && b_open {
                                got.extend(rxb.iter());
                                b_open = false;
                            } else if a_open && !b_open {
                                got.extend(rxa.iter());
                                a_open = false;
                            }
                        }
                        got
                    })
                })
                .collect();
            drop((rxa, rxb));
            for s in senders {
                s.join().unwrap();
            }
            receivers
                .into_iter()
                .flat_map(|r| r.join().unwrap())
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(got.len() as u64, 4 * PER);
    let set: HashSet<_> = got.into_iter().collect();
    assert_eq!(set.len() as u64, 4 * PER, "a value was received twice");
}

/// A value sent to a select that completes through another arm stays in its channel.
#[test]
fn select_loser_keeps_its_value() {
    within(LIMIT, || {
        rt(4).block_on(|| {
            for _ in 0..2_000 {
                let (tx1, rx1) = chan::bounded::<u32>(1);
                let (tx2, rx2) = chan::bounded::<u32>(1);
                let a = gort::spawn(move || tx1.send(1).unwrap());
                let b = gort::spawn(move || tx2.send(2).unwrap());
                let first = gort::select! {
                    recv(rx1) -> v => v.unwrap(),
                    recv(rx2) -> v => v.unwrap(),
                };
                a.join().unwrap();
                b.join().unwrap();
                let other = if first == 1 { rx2.recv() } else { rx1.recv() };
                assert_eq!(first + other.unwrap(), 3);
            }
        })
    });
}

#[test]
fn select_send_arm_rendezvous_and_disconnection() {
    within(LIMIT, || {
        rt(2).block_on(|| {
            let (tx, rx) = chan::bounded::<String>(0);
            let r = gort::spawn(move || rx.recv().unwrap());
            let sent = gort::select! {
                send(tx, "hello".to_string()) -> res => res.is_ok(),
            };
            assert!(sent);
            assert_eq!(r.join().unwrap(), "hello");
            // Every receiver gone: the send arm completes with its value back.
            let back = gort::select! {
                send(tx, "lost?".to_string()) -> res => res.unwrap_err().into_inner(),
            };
            assert_eq!(back, "lost?");
            // A recv arm on a disconnected channel completes with Err.
            let (tx2, rx2) = chan::bounded::<u8>(0);
            drop(tx2);
            let r = gort::select! {
                recv(rx2) -> v => v,
            };
            assert_eq!(r, Err(RecvError));
        })
    });
}

/// select! from a plain thread blocks the thread and is woken by a goroutine.
#[test]
fn select_on_a_plain_thread() {
    within(LIMIT, || {
        let rt = rt(2);
        let (tx1, rx1) = chan::bounded::<u32>(0);
        let (tx2, rx2) = chan::bounded::<u32>(0);
        let h = rt.spawn(move || {
            for i in 0..1000 {
                if i % 2 == 0 {
                    tx1.send(i).unwrap()
                } else {
                    tx2.send(i).unwrap()
                }
            }
        });
        let mut sum = 0;
        for _ in 0..1000 {
            sum += gort::select! {
                recv(rx1) -> v => v.unwrap(),
                recv(rx2) -> v => v.unwrap(),
            };
        }
        h.join().unwrap();
        assert_eq!(sum, (0..1000).sum::<u32>());
    });
}

// ---------------------------------------------------------------------------------------
// Cross-thread use
// ---------------------------------------------------------------------------------------

/// A plain thread receives from goroutines and sends to them, through unbuffered and
/// bounded channels, while the goroutines block on those channels.
#[test]
fn plain_threads_and_goroutines_exchange_values() {
    within(LIMIT, || {
        let rt = rt(2);
        let (req_tx, req_rx) = chan::bounded::<(u64, Sender<u64>)>(0);
        let (res_tx, res_rx) = chan::bounded::<u64>(4);
        // A plain thread serves requests from goroutines: doubles each value.
        let server = std::thread::spawn(move || {
            let mut n = 0;
            for (v, reply) in req_rx {
                reply.send(v * 2).unwrap();
                n += 1;
            }
            n
        });
        let clients: Vec<_> = (0..8u64)
            .map(|c| {
                let req_tx = req_tx.clone();
                let res_tx = res_tx.clone();
                rt.spawn(move || {
                    let (tx, rx) = chan::bounded(0);
                    let mut sum = 0;
                    for i in 0..200 {
                        req_tx.send((c * 1000 + i, tx.clone())).unwrap();
                        sum += rx.recv().unwrap();
                    }
                    res_tx.send(sum).unwrap();
                })
            })
            .collect();
        drop((req_tx, res_tx));
        // This plain thread receives the goroutines' results.
        let total: u64 = res_rx.iter().sum();
        for c in clients {
            c.join().unwrap();
        }
        assert_eq!(server.join().unwrap(), 8 * 200);
        let want: u64 = (0..8u64)
            .flat_map(|c| (0..200).map(move |i| 2 * (c * 1000 + i)))
            .sum();
        assert_eq!(total, want);
    });
}

// ---------------------------------------------------------------------------------------
// Teardown
// ---------------------------------------------------------------------------------------

/// Goroutines dropped at runtime shutdown while parked in recv, send and select leave no
/// waiter behind: afterwards the channels work between plain threads, and the value the
/// dropped sender was offering is dropped exactly once.
#[test]
fn goroutines_dropped_while_blocked_leave_channels_usable() {
    within(LIMIT, || {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (a_tx, a_rx) = chan::bounded::<u32>(0);
        let (b_tx, b_rx) = chan::bounded::<CountOnDrop>(0);
        let (c_tx, c_rx) = chan::bounded::<u32>(0);
        let (d_tx, d_rx) = chan::unbounded::<u32>();
        let (e_tx, e_rx) = chan::bounded::<u32>(1);
        e_tx.send(0).unwrap(); // full: a sender on it parks
        let parked = Arc::new(AtomicUsize::new(0));
        {
            let rt = rt(1);
            let (a_rx, b_tx, c_rx, d_rx, e_tx) = (
                a_rx.clone(),
                b_tx.clone(),
                c_rx.clone(),
                d_rx.clone(),
                e_tx.clone(),
            );
            let (dr, p) = (dropped.clone(), parked.clone());
            rt.block_on(move || {
                let p1 = p.clone();
                gort::spawn(move || {
                    p1.fetch_add(1, SeqCst);
                    let _ = a_rx.recv();
                    unreachable!("nobody sends on a");
                });
                let p2 = p.clone();
                gort::spawn(move || {
                    p2.fetch_add(1, SeqCst);
                    let _ = b_tx.send(CountOnDrop(dr));
                    unreachable!("nobody receives on b");
                });
                let p3 = p.clone();
                gort::spawn(move || {
                    p3.fetch_add(1, SeqCst);
                    gort::select! {
                        recv(c_rx) -> _ => unreachable!(),
                        recv(d_rx) -> _ => unreachable!(),
                        send(e_tx, 7) -> _ => unreachable!(),
                    }
                });
                // One P: each goroutine runs until it parks before we get it back.
                while p.load(SeqCst) < 3 {
                    gort::yield_now();
                }
                gort::yield_now();
            });
        }
        assert_eq!(parked.load(SeqCst), 3);
        assert_eq!(
            dropped.load(SeqCst),
            1,
            "the offered value was dropped once"
        );
        // No dangling waiters: nothing claims to be waiting on the other side...
        assert_eq!(a_tx.try_send(1), Err(TrySendError::Full(1)));
        assert!(matches!(b_rx.try_recv(), Err(TryRecvError::Empty)));
        assert_eq!(c_tx.try_send(1), Err(TrySendError::Full(1)));
        assert_eq!(
            e_rx.try_recv(),
            Ok(0),
            "the select's send did not go through"
        );
        assert_eq!(e_rx.try_recv(), Err(TryRecvError::Empty));
        // ...and the channels work between plain threads.
        let t = std::thread::spawn(move || (a_rx.recv().unwrap(), c_rx.recv().unwrap()));
        a_tx.send(10).unwrap();
        c_tx.send(20).unwrap();
        assert_eq!(t.join().unwrap(), (10, 20));
        d_tx.send(5).unwrap();
        assert_eq!(d_rx.recv(), Ok(5));
        let t = std::thread::spawn(move || b_tx.send(CountOnDrop(Arc::new(AtomicUsize::new(0)))));
        assert!(b_rx.recv().is_ok());
        assert!(t.join().unwrap().is_ok());
    });
}

/// Destructors running at teardown may use channels; what would block fails instead.
#[test]
fn channel_ops_in_teardown_destructors_fail_instead_of_blocking() {
    struct UsesChannels {
        rx: Receiver<u32>,
        tx: Sender<u32>,
        ok: Arc<AtomicBool>,
    }
    impl Drop for UsesChannels {
        fn drop(&mut self) {
            let r = self.rx.recv();
            let s = self.tx.send(1);
            let t = self.rx.recv_timeout(Duration::from_secs(60));
            let sel = gort::select! {
                recv(self.rx) -> v => v.is_err(),
            };
            self.ok.store(
                r == Err(RecvError)
                    && s == Err(SendError(1))
                    && t == Err(RecvTimeoutError::Disconnected)
                    && sel,
                SeqCst,
            );
        }
    }
    within(LIMIT, || {
        let ok = Arc::new(AtomicBool::new(false));
        let (_keep_tx, rx) = chan::bounded::<u32>(0);
        let (tx, _keep_rx) = chan::bounded::<u32>(0);
        let o = ok.clone();
        rt(1).block_on(move || {
            let u = UsesChannels { rx, tx, ok: o };
            gort::spawn(move || {
                let _u = u;
                loop {
                    gort::park();
                }
            });
            gort::yield_now();
        });
        assert!(ok.load(SeqCst));
    });
}

// ---------------------------------------------------------------------------------------
// Timer channels
// ---------------------------------------------------------------------------------------

#[test]
fn after_fires_once_after_the_duration() {
    within(LIMIT, || {
        rt(2).block_on(|| {
            let t = Instant::now();
            let rx = gort::time::after(Duration::from_millis(20));
            let fired = rx.recv().unwrap();
            assert!(fired >= t + Duration::from_millis(20));
            assert!(t.elapsed() >= Duration::from_millis(20));
            // The helper sent once and exited: the channel is then disconnected.
            assert_eq!(rx.recv(), Err(RecvError));
            // after() as a select timeout.
            let (_tx, never) = chan::bounded::<()>(0);
            let r = gort::select! {
                recv(never) -> _ => "value",
                recv(gort::time::after(Duration::from_millis(5))) -> _ => "after",
            };
            assert_eq!(r, "after");
        });
        // Outside a runtime, a helper thread does the job.
        let t = Instant::now();
        assert!(gort::time::after(Duration::from_millis(5)).recv().unwrap() >= t);
    });
}

/// The k-th tick is never earlier than start + k·period, and lateness does not build up:
/// over 40 ticks the last one is about as late as the first ones.
#[test]
fn ticker_does_not_drift() {
    within(LIMIT, || {
        rt(2).block_on(|| {
            let period = Duration::from_millis(5);
            let start = Instant::now();
            let ticker = gort::time::Ticker::new(period);
            let mut ticks = Vec::new();
            for _ in 0..40 {
                ticks.push(ticker.recv().unwrap());
            }
            let mut k = 1u32;
            let mut prev = start;
            for &t in &ticks {
                // A tick may have been skipped after a late wake-up, never sent early.
                while t >= start + period * (k + 1) {
                    k += 1;
                }
                assert!(t >= start + period * k, "tick {k} came early");
                assert!(t > prev);
                prev = t;
                k += 1;
            }
            let elapsed = ticks.last().unwrap().duration_since(start);
            assert!(elapsed >= period * 40, "{elapsed:?}");
            // Anchored deadlines: total lateness stays within a few periods, where a
            // sleep-then-send loop would accumulate per-tick lateness.
            assert!(
                elapsed < period * 40 + Duration::from_millis(250),
                "{elapsed:?}"
            );
        })
    });
}

#[test]
fn tick_counts_over_a_window_and_slow_receivers_drop_ticks() {
    within(LIMIT, || {
        rt(2).block_on(|| {
            let period = Duration::from_millis(4);
            let rx = gort::time::tick(period);
            let t = Instant::now();
            let mut n = 0;
            while t.elapsed() < Duration::from_millis(100) {
                rx.recv().unwrap();
                n += 1;
            }
            // 100 ms / 4 ms = 25 ticks at most (+1 for the one that ends the window).
            assert!((5..=26).contains(&n), "{n} ticks in 100 ms");

            // A slow receiver: missed ticks are dropped, not queued up.
            let ticker = gort::time::Ticker::new(Duration::from_millis(1));
            ticker.recv().unwrap();
            gort::time::sleep(Duration::from_millis(20)); // ~20 ticks go by
            let woke = Instant::now();
            let queued = ticker.receiver().try_iter().count();
            assert!(queued <= 1, "{queued} ticks queued: the buffer holds one");
            let next = ticker.recv().unwrap();
            assert!(
                next + Duration::from_millis(2) >= woke,
                "the next tick is a fresh one, not one from the missed period"
            );
        })
    });
}

#[test]
fn stopped_or_dropped_tickers_end_their_helper() {
    within(LIMIT, || {
        rt(2).block_on(|| {
            let mut ticker = gort::time::Ticker::new(Duration::from_millis(1));
            ticker.recv().unwrap();
            ticker.stop();
            // The helper wakes on stop and exits: at most a buffered tick, then Err.
            let rx = ticker.receiver().clone();
            let mut extra = 0;
            while rx.recv().is_ok() {
                extra += 1;
            }
            assert!(extra <= 1);
            // tick(): the helper exits at the next tick after the receiver is gone.
            let rx = gort::time::tick(Duration::from_millis(1));
            rx.recv().unwrap();
            drop(rx);
            // A long-period ticker dropped right away must not hold up shutdown.
            drop(gort::time::Ticker::new(Duration::from_secs(3600)));
        })
    });
}

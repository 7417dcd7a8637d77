//! Loom models of the channel wake-up protocol (`waiters.rs`): the real channel and
//! select code, with loom's mutex, atomics and cells, and loom threads standing in for
//! goroutines (a waiter is a loom thread handle; park/unpark are loom's, with the same
//! token semantics as gort's). Loom reports a lost wakeup as a deadlock (every thread
//! parked) and a racy slot access as a causality violation.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --lib --target-dir target/loom -- loom
//! ```

use std::sync::Arc;
use std::time::Instant;

use loom::thread;

use super::channel::Chan;
use super::error::{RecvTimeoutError, TrySendError};
use super::select::{select, Arm, RecvOp, SendOp, Timeout};
use super::waiters::Blocker;
use crate::g::Wait;

/// Goroutines modelled as loom threads.
struct Model;

impl Blocker for Model {
    type Waiter = thread::Thread;

    fn current() -> thread::Thread {
        thread::current()
    }

    fn wake(w: thread::Thread) {
        w.unpark();
    }

    fn park(_: Wait) {
        thread::park();
    }

    fn park_until(_: Instant, _: Wait) -> bool {
        unreachable!("the models use no deadlines")
    }

    fn in_teardown() -> bool {
        false
    }
}

type C<T> = Arc<Chan<T, Model>>;

fn chan<T>(cap: usize) -> C<T> {
    Arc::new(Chan::new(cap))
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n2 = n.clone();
    b.check(move || {
        n2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom: {} executions",
        n.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// A send racing a receiver that parks on an unbuffered channel: the value is handed
/// over exactly once and the receiver is always woken.
#[test]
fn loom_unbuffered_send_recv_handoff() {
    model(|| {
        let c = chan::<u32>(0);
        let c2 = c.clone();
        let t = thread::spawn(move || c2.send(7, None).is_ok());
        assert_eq!(c.recv(None).ok(), Some(7));
        assert!(t.join().unwrap());
        assert!(c.try_recv().is_err(), "delivered once");
    });
}

/// A buffered channel of one slot: a sender parks when full and is refilled from by the
/// receiver; order is kept.
#[test]
fn loom_bounded_sender_parks_when_full() {
    model(|| {
        let c = chan::<u32>(1);
        let c2 = c.clone();
        let t = thread::spawn(move || {
            c2.send(1, None).unwrap();
            c2.send(2, None).unwrap();
        });
        assert_eq!(c.recv(None).ok(), Some(1));
        assert_eq!(c.recv(None).ok(), Some(2));
        t.join().unwrap();
    });
}

/// The last sender leaving wakes a parked receiver with "disconnected".
#[test]
fn loom_disconnect_wakes_a_parked_receiver() {
    model(|| {
        let c = chan::<u32>(0);
        let c2 = c.clone();
        let t = thread::spawn(move || c2.release_sender());
        assert_eq!(c.recv(None), Err(RecvTimeoutError::Disconnected));
        t.join().unwrap();
    });
}

/// Two senders race to complete one select parked on two buffered channels: exactly one
/// value goes to the select, the other stays buffered in its channel; nothing is lost.
#[test]
fn loom_select_claim_race_loses_no_value() {
    model(|| {
        let (a, b) = (chan::<u32>(1), chan::<u32>(1));
        let (a2, b2) = (a.clone(), b.clone());
        let ta = thread::spawn(move || a2.send(1, None).unwrap());
        let tb = thread::spawn(move || b2.send(2, None).unwrap());
        let (ra, rb) = (RecvOp::new(&*a), RecvOp::new(&*b));
        let arms: [&dyn Arm<Model>; 2] = [&ra, &rb];
        let won = select(&arms, Timeout::Never).unwrap();
        let (got, other) = if won == 0 {
            (ra.take().unwrap().unwrap(), b.recv(None).unwrap())
        } else {
            (rb.take().unwrap().unwrap(), a.recv(None).unwrap())
        };
        assert_eq!(got + other, 3);
        ta.join().unwrap();
        tb.join().unwrap();
        assert!(a.try_recv().is_err() && b.try_recv().is_err());
    });
}

/// Rendezvous claims: two `try_send`s race to hand a value to one select parked on two
/// unbuffered channels. At most one succeeds, and the select receives exactly the value
/// of the one that did (or, if neither did, is woken by disconnection).
#[test]
fn loom_select_rendezvous_claim_is_exclusive() {
    model(|| {
        let (a, b) = (chan::<u32>(0), chan::<u32>(0));
        let (a2, b2) = (a.clone(), b.clone());
        let sel = thread::spawn(move || {
            let (ra, rb) = (RecvOp::new(&*a2), RecvOp::new(&*b2));
            let arms: [&dyn Arm<Model>; 2] = [&ra, &rb];
            let won = select(&arms, Timeout::Never).unwrap();
            [&ra, &rb][won].take().unwrap().ok()
        });
        let a3 = a.clone();
        let t = thread::spawn(move || a3.try_send(1).is_ok());
        let ok_b = b.try_send(2).is_ok();
        let ok_a = t.join().unwrap();
        // Disconnect both so that a select that got nothing wakes up.
        a.release_sender();
        b.release_sender();
        let got = sel.join().unwrap();
        assert!(!(ok_a && ok_b), "one select took two values");
        match got {
            Some(1) => assert!(ok_a),
            Some(2) => assert!(ok_b),
            None => assert!(!ok_a && !ok_b, "a value vanished"),
            Some(v) => panic!("{v}"),
        }
        assert!(matches!(a.try_send(0), Err(TrySendError::Full(0))));
    });
}

/// A select with a send arm and a receive arm on one unbuffered channel against a plain
/// receiver: the select never matches itself, and the receiver gets the value.
#[test]
fn loom_select_send_arm_meets_parked_receiver() {
    model(|| {
        let c = chan::<u32>(0);
        let c2 = c.clone();
        let r = thread::spawn(move || c2.recv(None).ok());
        let (s, rv) = (SendOp::new(&*c, 5), RecvOp::new(&*c));
        let arms: [&dyn Arm<Model>; 2] = [&s, &rv];
        let won = select(&arms, Timeout::Never).unwrap();
        assert_eq!(won, 0, "only the send arm can complete");
        assert_eq!(s.take(), Some(Ok(())));
        assert_eq!(r.join().unwrap(), Some(5));
    });
}

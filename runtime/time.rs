//! Time: sleeping goroutines, one-shot and periodic timer channels (`gort::time`).
//!
//! A sleeping goroutine parks with a timer on its P (see `timer.rs`); the OS thread is
//! free for other goroutines meanwhile, and an idle runtime sleeps exactly until the
//! earliest timer. On a plain thread these functions sleep the thread.
//!
//! [`after`], [`tick`] and [`Ticker`] deliver times on [channels](crate::chan), so they
//! combine with [`select!`](crate::select!); each is driven by a helper goroutine that
//! sleeps and sends, and exits when its receiver is gone (or the ticker is stopped).

use std::time::{Duration, Instant};

use crate::chan::{self, Receiver, RecvError, RecvTimeoutError, Sender, TrySendError};
use crate::g::{Wait, WaitReason};
use crate::waiter;

/// The current time on gort's timer clock: `Instant::now()`, except in a
/// [simulation](crate::sim), where it is the virtual time that `sleep`, timeouts and
/// timer channels use.
pub fn now() -> Instant {
    crate::timer::now()
}

/// Puts the calling goroutine to sleep for at least `d`.
///
/// ```
/// gort::run(|| {
///     let t = std::time::Instant::now();
///     gort::time::sleep(std::time::Duration::from_millis(5));
///     assert!(t.elapsed() >= std::time::Duration::from_millis(5));
/// });
/// ```
#[track_caller]
pub fn sleep(d: Duration) {
    crate::checkpoint();
    sleep_until(crate::timer::now() + d);
}

/// Puts the calling goroutine to sleep until `deadline` (returns at once if it passed).
#[track_caller]
pub fn sleep_until(deadline: Instant) {
    while crate::timer::now() < deadline {
        if waiter::park_until(deadline, Wait::here(WaitReason::Sleep)) {
            break;
        }
    }
}

/// A channel that receives the time once, `d` from now (Go's `time.After`).
///
/// The value is sent by a helper goroutine that sleeps until then (a helper thread when
/// called outside a runtime); the channel has room for it, so the helper never waits
/// and exits right after. Dropping the receiver early is fine (the helper's send then
/// just fails). If the runtime shuts down first, the helper is dropped with it and the
/// receiver reports disconnection.
///
/// ```
/// use std::time::{Duration, Instant};
/// gort::run(|| {
///     let t = std::time::Instant::now();
///     let fired = gort::time::after(Duration::from_millis(5)).recv().unwrap();
///     assert!(fired >= t + Duration::from_millis(5));
/// });
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = chan::bounded(1);
    match crate::timer::now().checked_add(d) {
        Some(deadline) => helper("gort::time::after", move || {
            sleep_until(deadline);
            let _ = tx.try_send(crate::timer::now());
        }),
        // Never fires (Go's `After` of an unrepresentable duration): keep the channel
        // connected without a helper.
        None => std::mem::forget(tx),
    }
    rx
}

/// A channel that receives the time every `period` (Go's `time.Tick`); see [`Ticker`].
/// It can't be stopped: its helper exits at the first tick after every receiver is
/// dropped.
///
/// # Panics
/// If `period` is zero.
pub fn tick(period: Duration) -> Receiver<Instant> {
    assert!(!period.is_zero(), "gort::time::tick: zero period");
    let (tx, rx) = chan::bounded(1);
    let start = crate::timer::now();
    helper("gort::time::tick", move || {
        run_ticker(start, period, tx, None)
    });
    rx
}

/// Delivers the time every `period` on a channel (Go's `time.Ticker`).
///
/// The k-th tick is due at `start + k * period`, computed from the start and not from the
/// previous tick, so lateness does not accumulate (no drift). The channel buffers one
/// tick: a receiver slower than the period misses ticks (they are dropped, as in Go), and
/// after a late wake-up the ticker skips to the next due time rather than firing a burst.
/// Each tick carries the time it was sent, never earlier than its due time.
///
/// ```
/// use std::time::Duration;
/// gort::run(|| {
///     let ticker = gort::time::Ticker::new(Duration::from_millis(2));
///     let a = ticker.recv().unwrap();
///     let b = ticker.recv().unwrap();
///     assert!(b > a);
/// }); // dropping the ticker stops it
/// ```
pub struct Ticker {
    rx: Receiver<Instant>,
    stop: Option<Sender<()>>,
    period: Duration,
}

impl Ticker {
    /// Starts a ticker; the first tick is due one `period` from now.
    ///
    /// # Panics
    /// If `period` is zero.
    pub fn new(period: Duration) -> Ticker {
        assert!(!period.is_zero(), "gort::time::Ticker: zero period");
        let (tx, rx) = chan::bounded(1);
        let (stop, stop_rx) = chan::bounded(0);
        let start = crate::timer::now();
        helper("gort::time::Ticker", move || {
            run_ticker(start, period, tx, Some(stop_rx))
        });
        Ticker {
            rx,
            stop: Some(stop),
            period,
        }
    }

    /// Waits for the next tick. After [`stop`](Self::stop), returns a tick that was
    /// already buffered, then `Err`.
    #[track_caller]
    pub fn recv(&self) -> Result<Instant, RecvError> {
        self.rx.recv()
    }

    /// The tick channel, e.g. for [`select!`](crate::select!).
    pub fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Stops the ticker: no tick is sent after this returns (its helper wakes and exits
    /// at once). Dropping the ticker does the same.
    pub fn stop(&mut self) {
        // Dropping the only sender of the stop channel wakes the helper, parked on it.
        self.stop = None;
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticker")
            .field("period", &self.period)
            .field("stopped", &self.stop.is_none())
            .finish()
    }
}

/// The helper loop of [`tick`] and [`Ticker`]: waits for each due time (on the stop
/// channel when there is one, so that stopping wakes it), sends without waiting, and
/// exits when stopped or when every receiver is gone.
fn run_ticker(start: Instant, period: Duration, tx: Sender<Instant>, stop: Option<Receiver<()>>) {
    let p = period.as_nanos();
    let mut k: u128 = 1;
    loop {
        let Some(due) = u64::try_from(p * k)
            .ok()
            .and_then(|ns| start.checked_add(Duration::from_nanos(ns)))
        else {
            return;
        };
        match &stop {
            Some(stop) => match stop.recv_deadline(due) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return, // stopped (or teardown)
            },
            None => sleep_until(due),
        }
        let now = crate::timer::now();
        if now < due {
            if crate::context::in_teardown() {
                return; // waits return at once during teardown
            }
            continue;
        }
        if let Err(TrySendError::Disconnected(_)) = tx.try_send(now) {
            return;
        }
        // The next due time after `now`: skip the ticks a late wake-up missed.
        k = (k + 1).max((now - start).as_nanos() / p + 1);
    }
}

/// Runs `f` on a helper goroutine of the current runtime, or on a helper thread outside
/// one.
fn helper(name: &str, f: impl FnOnce() + Send + 'static) {
    if crate::context::current_sched().is_some() {
        crate::GoroutineBuilder::new()
            .name(name)
            .spawn(f)
            .unwrap_or_else(|e| panic!("{e}"));
    } else {
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(f)
            .expect("gort::time: cannot start a timer thread");
    }
}

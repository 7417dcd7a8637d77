//! Channels: Go's way to hand values between goroutines (and plain threads).
//!
//! ```
//! use gort::chan;
//!
//! let total = gort::run(|| {
//!     let (tx, rx) = chan::bounded::<u64>(16);
//!     for w in 0..4 {
//!         let tx = tx.clone();
//!         gort::spawn(move || {
//!             for i in 0..100 {
//!                 tx.send(w * 100 + i).unwrap();
//!             }
//!         });
//!     }
//!     drop(tx); // the loop below ends once every sender is gone
//!     rx.iter().sum::<u64>()
//! });
//! assert_eq!(total, (0..400).sum());
//! ```
//!
//! # Kinds
//!
//! - [`bounded(cap)`](bounded) buffers up to `cap` values; a sender parks while it is
//!   full. `bounded(0)` is *unbuffered*: a send completes only when a receiver takes the
//!   value (a rendezvous, like Go's `make(chan T)`).
//! - [`unbounded()`](unbounded) never makes a sender wait.
//!
//! Both ends are `Clone` (multi-producer, multi-consumer); every value is received
//! exactly once. A channel is *disconnected* for senders when every [`Receiver`] is
//! dropped (a send then fails and hands the value back in [`SendError`]) and for
//! receivers when every [`Sender`] is dropped (receives drain what is buffered, then
//! fail with [`RecvError`]); there is no `close` besides dropping. Waiting senders and
//! receivers are served first come, first served. [`select!`](crate::select!) waits on
//! several operations at once.
//!
//! # Blocking
//!
//! A blocking operation parks the calling goroutine, not its OS thread; on a plain
//! thread (outside any runtime, or a thread of your own next to one) it blocks the
//! thread, so goroutines and threads can exchange values both ways. The model is Go's:
//! a sender that finds a parked receiver moves its value straight into that receiver's
//! slot and makes it runnable in its own P's `runnext` slot, so a ping-pong over an
//! unbuffered channel costs about one context switch each way. How waiters are
//! registered, claimed exactly once and never lost is written down in `waiters.rs`.
//!
//! # Runtime teardown
//!
//! When a runtime shuts down with goroutines still parked in a channel operation, their
//! stacks are unwound and their waits withdrawn from the channel, which stays usable by
//! everyone else (a value a dropped sender was offering is dropped with it, and so is a
//! value handed to a receiver that was dropped before it could run again). Destructors
//! that run during that teardown may still use channels, but cannot wait: an operation
//! that would block fails at once as if the channel were disconnected (`send` returns
//! `Err(SendError(v))`, `recv` returns `Err(RecvError)`, the timeout variants return
//! their `Disconnected` error, and a `select!` that would park completes one arm with
//! `Err`).

mod channel;
mod error;
pub(crate) mod select;
mod waiters;

#[cfg(all(test, loom))]
mod loom_tests;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channel::{Chan, UNBOUNDED};
pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
#[doc(hidden)]
pub use select::__private;

/// A channel that buffers up to `cap` values; `cap == 0` makes it unbuffered (every send
/// waits for a receiver to take the value).
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    assert!(cap < UNBOUNDED, "gort::chan::bounded: capacity too large");
    pair(Chan::new(cap))
}

/// A channel with an unlimited buffer: sends never wait.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    pair(Chan::new(UNBOUNDED))
}

fn pair<T>(c: Chan<T>) -> (Sender<T>, Receiver<T>) {
    let c = Arc::new(c);
    (Sender { chan: c.clone() }, Receiver { chan: c })
}

fn deadline_after(d: Duration) -> Option<Instant> {
    // A timeout too large to represent waits forever.
    crate::timer::now().checked_add(d)
}

/// The sending side of a channel. Clone it for more senders.
pub struct Sender<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

/// The receiving side of a channel. Clone it for more receivers; each value goes to one.
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `v`, parking while the channel is full (unbuffered: until a receiver takes
    /// it). Fails, handing `v` back, when every receiver is gone.
    #[track_caller]
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        crate::checkpoint();
        self.chan
            .send(v, None)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `v` if that needs no waiting: there is buffer room, or (unbuffered) a
    /// receiver is already waiting.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(v)
    }

    /// Like [`send`](Self::send), but gives up (handing `v` back) after `timeout`.
    #[track_caller]
    pub fn send_timeout(&self, v: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.chan.send(v, deadline_after(timeout))
    }

    /// Like [`send`](Self::send), but gives up (handing `v` back) at `deadline`.
    #[track_caller]
    pub fn send_deadline(&self, v: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.chan.send(v, Some(deadline))
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full now (always true when unbuffered).
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|c| self.len() >= c)
    }

    /// The buffer size: `Some(cap)` for [`bounded`], `None` for [`unbounded`].
    pub fn capacity(&self) -> Option<usize> {
        capacity(&self.chan)
    }

    /// Whether every receiver is gone (sends fail).
    pub fn is_disconnected(&self) -> bool {
        self.chan.receivers_gone()
    }

    /// Whether `self` and `other` send on the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Receiver<T> {
    /// Receives a value, parking while the channel is empty. Fails once the channel is
    /// empty and every sender is gone.
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        crate::checkpoint();
        self.chan.recv(None).map_err(|_| RecvError)
    }

    /// Receives a value if one is ready: buffered, or (unbuffered) offered by a waiting
    /// sender.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Like [`recv`](Self::recv), but gives up after `timeout`.
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(deadline_after(timeout))
    }

    /// Like [`recv`](Self::recv), but gives up at `deadline`.
    #[track_caller]
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.chan.recv(Some(deadline))
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full now (always true when unbuffered).
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|c| self.len() >= c)
    }

    /// The buffer size: `Some(cap)` for [`bounded`], `None` for [`unbounded`].
    pub fn capacity(&self) -> Option<usize> {
        capacity(&self.chan)
    }

    /// Whether every sender is gone (receives fail once the buffer is drained).
    pub fn is_disconnected(&self) -> bool {
        self.chan.senders_gone()
    }

    /// Whether `self` and `other` receive from the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// A blocking iterator: yields values until the channel is empty and disconnected.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator: yields the values ready now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

fn capacity<T>(c: &Chan<T>) -> Option<usize> {
    (c.cap() != UNBOUNDED).then_some(c.cap())
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.add_receiver();
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.release_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.release_receiver();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// Blocking iterator over a [`Receiver`] ([`Receiver::iter`]).
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator over a [`Receiver`] ([`Receiver::try_iter`]).
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator over a [`Receiver`].
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

//! The channel itself (Go's `hchan`): a buffer and two wait queues under one lock.
//!
//! Invariants, all under the lock:
//!
//! - a live (WAITING) receiver is queued only while the buffer is empty, and a live
//!   sender only while the buffer is full (for an unbuffered channel: always "full");
//! - so a sender first serves the oldest live receiver directly (Go's `send` to a
//!   `recvq` sudog: the value is moved into the receiver's slot, no buffer round trip),
//!   else buffers, else parks; a receiver takes the oldest buffered value and refills the
//!   buffer from the oldest live sender (which keeps FIFO order), or with no buffer
//!   takes the value straight from the oldest live sender, else parks.
//!
//! Waking happens after the lock is released; the woken goroutine goes to the waker's
//! `runnext`, so a rendezvous costs one switch each way.
//!
//! During runtime teardown (parks return at once) an operation that would block fails
//! as if the channel were disconnected; see [`super`].

use std::collections::VecDeque;
use std::time::Instant;

use super::error::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use super::waiters::{Blocker, Ctx, Rt, Slot, WaitQueue};
use crate::g::{Wait, WaitReason};
use crate::loom::Mutex;

/// The unbounded channel's capacity.
pub(crate) const UNBOUNDED: usize = usize::MAX;

/// A channel shared by its senders and receivers.
pub struct Chan<T, B: Blocker = Rt> {
    inner: Mutex<Inner<T, B>>,
    cap: usize,
}

struct Inner<T, B: Blocker> {
    buf: VecDeque<T>,
    sendq: WaitQueue<T, B>,
    recvq: WaitQueue<T, B>,
    senders: usize,
    receivers: usize,
}

// SAFETY: the raw slot pointers in the wait queues are dereferenced only under the lock
// that owns this `Inner`, and each points to a slot that its owner keeps alive until it
// is unlinked (see `waiters.rs`); the values moved through them are `T: Send`.
unsafe impl<T: Send, B: Blocker> Send for Inner<T, B> {}

/// Unlocks, then wakes: the woken goroutine should not find the lock still held.
fn wake_after<B: Blocker, G>(guard: G, w: Option<B::Waiter>) {
    drop(guard);
    if let Some(w) = w {
        B::wake(w);
    }
}

impl<T, B: Blocker> Chan<T, B> {
    /// A channel with one sender and one receiver; `cap` = [`UNBOUNDED`] for unbounded.
    pub(crate) fn new(cap: usize) -> Self {
        Chan {
            inner: Mutex::new(Inner {
                buf: VecDeque::with_capacity(if cap == UNBOUNDED { 0 } else { cap.min(1024) }),
                sendq: WaitQueue::new(),
                recvq: WaitQueue::new(),
                senders: 1,
                receivers: 1,
            }),
            cap,
        }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().buf.len()
    }

    pub(crate) fn add_sender(&self) {
        self.inner.lock().senders += 1;
    }

    pub(crate) fn add_receiver(&self) {
        self.inner.lock().receivers += 1;
    }

    pub(crate) fn senders_gone(&self) -> bool {
        self.inner.lock().senders == 0
    }

    pub(crate) fn receivers_gone(&self) -> bool {
        self.inner.lock().receivers == 0
    }

    /// The last sender going wakes every parked receiver with "disconnected".
    pub(crate) fn release_sender(&self) {
        let mut i = self.inner.lock();
        i.senders -= 1;
        if i.senders == 0 {
            let mut wake = Vec::new();
            i.recvq.disconnect_all(&mut wake);
            drop(i);
            wake.into_iter().for_each(B::wake);
        }
    }

    /// The last receiver going wakes every parked sender (its value is returned to it)
    /// and drops the buffered values.
    pub(crate) fn release_receiver(&self) {
        let mut i = self.inner.lock();
        i.receivers -= 1;
        if i.receivers == 0 {
            let mut wake = Vec::new();
            i.sendq.disconnect_all(&mut wake);
            let buf = std::mem::take(&mut i.buf);
            drop(i);
            wake.into_iter().for_each(B::wake);
            // Values' destructors run outside the lock: they may use channels.
            drop(buf);
        }
    }

    fn try_send_locked(
        &self,
        i: &mut Inner<T, B>,
        v: T,
    ) -> Result<Option<B::Waiter>, TrySendError<T>> {
        if i.receivers == 0 {
            return Err(TrySendError::Disconnected(v));
        }
        if !i.recvq.is_empty() {
            let mut v = Some(v);
            // Hand the value to the oldest live receiver (its slot is empty): the claimed
            // slot is unlinked and ours until `complete`.
            if let Some(((), w)) = i.recvq.claim_front(|s| s.put_value(v.take().unwrap())) {
                return Ok(w);
            }
            // Only stale waiters were queued.
            let v = v.unwrap();
            return self.buffer_or_full(i, v);
        }
        self.buffer_or_full(i, v)
    }

    fn buffer_or_full(
        &self,
        i: &mut Inner<T, B>,
        v: T,
    ) -> Result<Option<B::Waiter>, TrySendError<T>> {
        if i.buf.len() < self.cap {
            i.buf.push_back(v);
            Ok(None)
        } else {
            Err(TrySendError::Full(v))
        }
    }

    fn try_recv_locked(&self, i: &mut Inner<T, B>) -> Result<(T, Option<B::Waiter>), TryRecvError> {
        if let Some(v) = i.buf.pop_front() {
            // Room now: move the oldest live sender's value to the tail.
            let mut w = None;
            if !i.sendq.is_empty() {
                if let Some((sv, sw)) = i.sendq.claim_front(|s| s.take_value()) {
                    i.buf
                        .push_back(sv.expect("a parked sender holds its value"));
                    w = sw;
                }
            }
            return Ok((v, w));
        }
        if let Some((sv, w)) = i.sendq.claim_front(|s| s.take_value()) {
            return Ok((sv.expect("a parked sender holds its value"), w));
        }
        if i.senders == 0 {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Sends without blocking.
    pub(crate) fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        crate::dump::note_channel_use();
        let mut i = self.inner.lock();
        let w = self.try_send_locked(&mut i, v)?;
        wake_after::<B, _>(i, w);
        Ok(())
    }

    /// Receives without blocking.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        crate::dump::note_channel_use();
        let mut i = self.inner.lock();
        let (v, w) = self.try_recv_locked(&mut i)?;
        wake_after::<B, _>(i, w);
        Ok(v)
    }

    /// Sends, parking until a receiver takes the value (or it is buffered), the
    /// deadline passes, or every receiver is gone. The wait site is the caller's.
    #[track_caller]
    pub(crate) fn send(&self, v: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        crate::dump::note_channel_use();
        let mut i = self.inner.lock();
        let v = match self.try_send_locked(&mut i, v) {
            Ok(w) => {
                wake_after::<B, _>(i, w);
                return Ok(());
            }
            Err(TrySendError::Disconnected(v)) => return Err(SendTimeoutError::Disconnected(v)),
            Err(TrySendError::Full(v)) => v,
        };
        if deadline.is_some_and(|d| crate::timer::now() >= d) {
            return Err(SendTimeoutError::Timeout(v));
        }
        if B::in_teardown() {
            return Err(SendTimeoutError::Disconnected(v));
        }
        let wait = Wait::here(WaitReason::ChanSend);
        let ctx = Ctx::<B>::new();
        ctx.prepare();
        let slot = Slot::new(Some(v));
        slot.bind(&ctx, 0);
        // SAFETY: `slot` is bound, unlinked, and lives on this frame until `parked` (below)
        // has settled the ctx and unlinked it, also on unwinding.
        unsafe { i.sendq.push_back(&slot) };
        let parked = Parked {
            chan: self,
            slot: &slot,
            ctx: &ctx,
            send: true,
            wait,
        };
        drop(i);
        let r = ctx.wait(deadline, wait);
        drop(parked);
        match (r, slot.take_value()) {
            (Some(_), None) => Ok(()),
            (Some(_), Some(v)) => Err(SendTimeoutError::Disconnected(v)),
            (None, Some(v)) if B::in_teardown() => Err(SendTimeoutError::Disconnected(v)),
            (None, Some(v)) => Err(SendTimeoutError::Timeout(v)),
            (None, None) => unreachable!("an aborted send keeps its value"),
        }
    }

    /// Receives, parking until a value arrives, the deadline passes, or the channel is
    /// empty and every sender is gone. The wait site is the caller's.
    #[track_caller]
    pub(crate) fn recv(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        crate::dump::note_channel_use();
        let mut i = self.inner.lock();
        match self.try_recv_locked(&mut i) {
            Ok((v, w)) => {
                wake_after::<B, _>(i, w);
                return Ok(v);
            }
            Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => {}
        }
        if deadline.is_some_and(|d| crate::timer::now() >= d) {
            return Err(RecvTimeoutError::Timeout);
        }
        if B::in_teardown() {
            return Err(RecvTimeoutError::Disconnected);
        }
        let wait = Wait::here(WaitReason::ChanRecv);
        let ctx = Ctx::<B>::new();
        ctx.prepare();
        let slot = Slot::new(None);
        slot.bind(&ctx, 0);
        // SAFETY: as in `send`.
        unsafe { i.recvq.push_back(&slot) };
        let parked = Parked {
            chan: self,
            slot: &slot,
            ctx: &ctx,
            send: false,
            wait,
        };
        drop(i);
        let r = ctx.wait(deadline, wait);
        drop(parked);
        match (r, slot.take_value()) {
            (Some(_), Some(v)) => Ok(v),
            (Some(_), None) => Err(RecvTimeoutError::Disconnected),
            (None, _) if B::in_teardown() => Err(RecvTimeoutError::Disconnected),
            (None, _) => Err(RecvTimeoutError::Timeout),
        }
    }

    /// `select!` poll pass: tries to send the value in `slot` (unlinked) without
    /// blocking. True when the arm is finished: sent (slot emptied) or disconnected (the
    /// value stays in the slot).
    pub(crate) fn select_try_send(&self, slot: &Slot<T, B>) -> bool {
        crate::dump::note_channel_use();
        let Some(v) = slot.take_value() else {
            return true;
        };
        let mut i = self.inner.lock();
        match self.try_send_locked(&mut i, v) {
            Ok(w) => {
                wake_after::<B, _>(i, w);
                true
            }
            Err(TrySendError::Full(v)) => {
                slot.put_value(v);
                false
            }
            Err(TrySendError::Disconnected(v)) => {
                slot.put_value(v);
                true
            }
        }
    }

    /// `select!` poll pass for a receive: `Some(Ok(v))`, `Some(Err(()))` when
    /// disconnected, `None` when it would block.
    pub(crate) fn select_try_recv(&self) -> Option<Result<T, ()>> {
        crate::dump::note_channel_use();
        let mut i = self.inner.lock();
        match self.try_recv_locked(&mut i) {
            Ok((v, w)) => {
                wake_after::<B, _>(i, w);
                Some(Ok(v))
            }
            Err(TryRecvError::Disconnected) => Some(Err(())),
            Err(TryRecvError::Empty) => None,
        }
    }

    /// `select!` registration of a send arm: true (and not registered) if the send could
    /// complete now, which restarts the select; otherwise links `slot`.
    ///
    /// # Safety
    /// `slot` and `ctx` stay alive and unmoved until the ctx is settled and
    /// [`unregister`](Self::unregister) has run for `slot`.
    pub(crate) unsafe fn register_send(&self, slot: &Slot<T, B>, ctx: &Ctx<B>, arm: usize) -> bool {
        let mut i = self.inner.lock();
        if i.receivers == 0 || i.buf.len() < self.cap || i.recvq.has_waiting_other(ctx) {
            return true;
        }
        slot.bind(ctx, arm);
        // SAFETY: the caller's contract.
        unsafe { i.sendq.push_back(slot) };
        false
    }

    /// `select!` registration of a receive arm; as [`register_send`](Self::register_send).
    ///
    /// # Safety
    /// As for `register_send`.
    pub(crate) unsafe fn register_recv(&self, slot: &Slot<T, B>, ctx: &Ctx<B>, arm: usize) -> bool {
        let mut i = self.inner.lock();
        if !i.buf.is_empty() || i.senders == 0 || i.sendq.has_waiting_other(ctx) {
            return true;
        }
        slot.bind(ctx, arm);
        // SAFETY: the caller's contract.
        unsafe { i.recvq.push_back(slot) };
        false
    }

    /// Unlinks `slot` from the send (or receive) queue if a waker has not already.
    pub(crate) fn unregister(&self, slot: &Slot<T, B>, send: bool) {
        let mut i = self.inner.lock();
        // SAFETY: `slot` was only ever linked on this channel's queue of its side.
        unsafe {
            if send {
                i.sendq.remove(slot)
            } else {
                i.recvq.remove(slot)
            }
        }
    }
}

/// Drop guard of a parked single operation: settles the ctx and unlinks the slot, on
/// return and on unwinding (a goroutine dropped at teardown while parked here).
struct Parked<'a, T, B: Blocker> {
    chan: &'a Chan<T, B>,
    slot: &'a Slot<T, B>,
    ctx: &'a Ctx<B>,
    send: bool,
    /// The operation's wait, for the brief park on a claimer in `settle`.
    wait: Wait,
}

impl<T, B: Blocker> Drop for Parked<'_, T, B> {
    fn drop(&mut self) {
        if self.ctx.settle(self.wait).is_none() {
            // Aborted: the slot may still be linked. (A claimer unlinked it otherwise.)
            self.chan.unregister(self.slot, self.send);
        }
    }
}

//! Parked channel operations (Go's `sudog`) and the claim protocol that hands each one
//! exactly one outcome.
//!
//! A blocked operation is two things on the blocked caller's own stack:
//!
//! - a [`Ctx`]: one per blocking call (one per `select!`, however many arms), with an
//!   atomic `state` and the [`Waiter`](crate::waiter::Waiter) to wake;
//! - a [`Slot`] per arm: linked into the wait queue of that arm's channel (an intrusive,
//!   doubly linked FIFO list guarded by the channel's lock), holding the value to send,
//!   or receiving the value handed over.
//!
//! ```text
//!        channel A lock                 channel B lock
//!   recvq: [s1] <-> [S_a] <-> ...  recvq: [S_b] <-> [s7]
//!                     \                    /
//!                      +--> Ctx { state, waiter }   (on the selecting goroutine's stack)
//! ```
//!
//! # The state word
//!
//! ```text
//!   WAITING ──(a waker's CAS)──> CLAIMING ──(the same waker)──> DONE + arm
//!      │
//!      └──(the owner's CAS: timeout, teardown, unwinding, or "an arm became ready
//!          while I was registering")──> ABORTED
//! ```
//!
//! **Exactly once.** Every transition out of WAITING is a compare-exchange, so of all the
//! wakers (other channels' senders/receivers, disconnection) and the owner's abort, exactly
//! one wins. Only a waker that won `WAITING -> CLAIMING` touches the slot's value (moves its
//! value in, or takes the sender's value out) and takes the waiter; it then publishes
//! `DONE + arm` with release, which the owner reads with acquire before looking at the
//! slot. A waker that loses the CAS has touched nothing, treats the slot as stale, unlinks
//! it and serves the next waiter in line, so a value offered to a `select!` that completed
//! elsewhere stays with the waker (buffered, or handed to the next waiter, or returned).
//!
//! **No lost wakeup.** A waker finds a slot only under the channel lock, and the owner
//! links its slot under that lock after checking, under the same lock, that the
//! operation cannot complete now. So whatever a waker does after the owner looked, it
//! sees the slot. The wake itself is `park`/`unpark` with a token: an unpark that comes
//! before the owner's park makes the park return at once, and the owner re-checks the
//! state word in a loop, so spurious returns are harmless.
//!
//! **No dangling slot.** Slots live on the owner's stack, so the owner may return (or
//! unwind) only after none is reachable: it first *settles* the state (aborting if still
//! WAITING, waiting out a CLAIMING), then unlinks, under each channel's lock, every slot
//! that a waker has not already unlinked. The winning waker unlinks its slot before
//! publishing DONE and touches nothing of the owner's afterwards: it took the waiter out
//! first and wakes it after unlocking. This settle-and-unlink is done by drop guards, so
//! it also runs when a parked goroutine is dropped at runtime teardown (force unwind).

use std::cell::Cell;
use std::ptr;
use std::time::Instant;

use crate::g::Wait;
use crate::loom::{AtomicUsize, Ordering::*, UnsafeCell};

/// No outcome yet; linked in wait queues.
pub const WAITING: usize = 0;
/// A waker won the claim and is completing the operation.
pub const CLAIMING: usize = 1;
/// The owner withdrew (timeout, teardown, unwinding, or a restart of `select!`).
pub const ABORTED: usize = 2;
/// `DONE + arm`: arm `arm` completed (value moved, or the channel disconnected).
pub const DONE: usize = 3;

/// How a blocked operation waits and is woken: the runtime (a goroutine or a plain
/// thread, [`Rt`]), or a model of it for loom.
pub trait Blocker: 'static {
    /// What a waker needs to wake the owner.
    type Waiter: Send;
    /// The caller.
    fn current() -> Self::Waiter;
    /// Wakes `w` (token semantics: a wake before the park makes the park return).
    fn wake(w: Self::Waiter);
    /// Parks the caller; may return spuriously. `w` is what dumps show.
    fn park(w: Wait);
    /// Parks the caller until woken or `deadline`; true when the deadline passed.
    fn park_until(deadline: Instant, w: Wait) -> bool;
    /// Whether this thread is tearing a runtime down (parks return at once).
    fn in_teardown() -> bool;
}

/// The runtime: a goroutine parks itself, a plain thread parks the thread.
pub struct Rt;

/// The runtime's [`Waiter`](crate::waiter::Waiter), opaque outside the crate.
pub struct RtWaiter(crate::waiter::Waiter);

impl Blocker for Rt {
    type Waiter = RtWaiter;

    #[inline]
    fn current() -> Self::Waiter {
        RtWaiter(crate::waiter::Waiter::current())
    }

    #[inline]
    fn wake(w: Self::Waiter) {
        w.0.wake()
    }

    #[inline]
    fn park(w: Wait) {
        crate::waiter::park_current(w)
    }

    #[inline]
    fn park_until(deadline: Instant, w: Wait) -> bool {
        crate::waiter::park_until(deadline, w)
    }

    #[inline]
    fn in_teardown() -> bool {
        crate::context::in_teardown()
    }
}

/// One blocking call's outcome word and waiter (Go: the `g` a sudog points to, with its
/// `selectDone` flag).
pub struct Ctx<B: Blocker> {
    state: AtomicUsize,
    /// Set by the owner before any slot is linked; taken by the waker that claims.
    waiter: UnsafeCell<Option<B::Waiter>>,
}

impl<B: Blocker> Ctx<B> {
    pub(crate) fn new() -> Self {
        Ctx {
            state: AtomicUsize::new(WAITING),
            waiter: UnsafeCell::new(None),
        }
    }

    /// Records who to wake, if not yet recorded. Owner only, while no slot is linked.
    pub(crate) fn prepare(&self) {
        // SAFETY: no slot of this ctx is linked anywhere (the caller's contract), so no
        // waker can reach `waiter`; the owner is the only thread touching it.
        self.waiter.with_mut(|w| unsafe {
            if (*w).is_none() {
                *w = Some(B::current());
            }
        });
    }

    /// Back to WAITING for another round of `select!`. Owner only, with every slot
    /// unlinked (so no waker can observe the transition).
    pub(crate) fn reset(&self) {
        // Relaxed: the next registration publishes the ctx through a channel lock.
        self.state.store(WAITING, Relaxed);
    }

    pub(crate) fn state(&self) -> usize {
        // Acquire pairs with the release in `complete`: a DONE seen here makes the
        // waker's write to the slot visible.
        self.state.load(Acquire)
    }

    /// A waker's claim. Call only under the lock of a channel where a slot of this ctx
    /// is linked (that keeps the ctx alive). True: the caller must [`complete`](Self::complete).
    pub(crate) fn try_claim(&self) -> bool {
        // Acquire: see the owner's writes (its send value, its waiter), which were also
        // published by the channel lock; AcqRel keeps loom's view exact.
        self.state
            .compare_exchange(WAITING, CLAIMING, AcqRel, Relaxed)
            .is_ok()
    }

    /// Publishes `DONE + arm` after the winner of [`try_claim`](Self::try_claim) has
    /// filled or emptied the slot; returns the waiter to wake (after unlocking).
    ///
    /// # Safety
    /// The caller won `try_claim` on this ctx, has already unlinked the claimed slot, and
    /// does not touch the ctx or any of its slots after this returns (the owner may free
    /// them as soon as it sees DONE).
    pub(crate) unsafe fn complete(&self, arm: usize) -> Option<B::Waiter> {
        // SAFETY: winning the claim gives this thread sole access to `waiter` until the
        // DONE store below; the owner reads nothing before it sees DONE.
        let w = self.waiter.with_mut(|w| unsafe { (*w).take() });
        // Release pairs with the owner's acquire load in `state`/`wait`.
        self.state.store(DONE + arm, Release);
        w
    }

    /// The owner withdraws; false if a waker claimed first.
    pub(crate) fn try_abort(&self) -> bool {
        self.state
            .compare_exchange(WAITING, ABORTED, Acquire, Acquire)
            .is_ok()
    }

    /// Parks until an outcome: `Some(arm)` when arm `arm` completed, `None` when the
    /// owner aborted (deadline passed, or runtime teardown). Owner only.
    pub(crate) fn wait(&self, deadline: Option<Instant>, w: Wait) -> Option<usize> {
        loop {
            match self.state() {
                s if s >= DONE => return Some(s - DONE),
                ABORTED => return None,
                WAITING => {
                    if B::in_teardown() {
                        if self.try_abort() {
                            return None;
                        }
                        continue;
                    }
                    match deadline {
                        None => B::park(w),
                        Some(d) => {
                            if B::park_until(d, w) && self.try_abort() {
                                return None;
                            }
                        }
                    }
                }
                _ => self.wait_for_claimer(w),
            }
        }
    }

    /// Makes the outcome final: aborts if still WAITING, waits out a CLAIMING. Owner only;
    /// used by the drop guards (so also when a parked goroutine is unwound).
    pub(crate) fn settle(&self, w: Wait) -> Option<usize> {
        loop {
            match self.state() {
                s if s >= DONE => return Some(s - DONE),
                ABORTED => return None,
                WAITING => {
                    if self.try_abort() {
                        return None;
                    }
                }
                _ => self.wait_for_claimer(w),
            }
        }
    }

    /// A waker is between its claim and its DONE store (a few instructions under a
    /// channel lock, no user code); it wakes us after the store.
    fn wait_for_claimer(&self, w: Wait) {
        if B::in_teardown() {
            // Parks return at once during teardown; the claimer is another thread.
            std::thread::yield_now();
        } else {
            B::park(w);
        }
    }
}

/// One arm's entry in a channel's wait queue (Go's `sudog`). Lives on the owner's stack;
/// the links are guarded by the lock of the channel it is queued on.
pub struct Slot<T, B: Blocker> {
    ctx: Cell<*const Ctx<B>>,
    arm: Cell<usize>,
    /// A sender's value (taken by the receiver that claims it), or the value a sender
    /// hands to a claimed receiver.
    value: UnsafeCell<Option<T>>,
    prev: Cell<*const Slot<T, B>>,
    next: Cell<*const Slot<T, B>>,
    queued: Cell<bool>,
}

impl<T, B: Blocker> Slot<T, B> {
    pub(crate) fn new(value: Option<T>) -> Self {
        Slot {
            ctx: Cell::new(ptr::null()),
            arm: Cell::new(0),
            value: UnsafeCell::new(value),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            queued: Cell::new(false),
        }
    }

    /// Ties the slot to its ctx and arm index before it is linked.
    pub(crate) fn bind(&self, ctx: &Ctx<B>, arm: usize) {
        debug_assert!(!self.queued.get());
        self.ctx.set(ctx);
        self.arm.set(arm);
    }

    /// Takes the value. Only by the owner while the slot is not linked (or after its
    /// ctx reached DONE), or by the claimer between its claim and `complete`.
    pub(crate) fn take_value(&self) -> Option<T> {
        // SAFETY: per the contract above one thread at a time reaches the value: the
        // claimer owns an unlinked, claimed slot until its DONE store (release), and the
        // owner touches it only when unlinked and not claimed, or after acquiring DONE.
        self.value.with_mut(|v| unsafe { (*v).take() })
    }

    /// Stores a value; same contract as [`take_value`](Self::take_value).
    pub(crate) fn put_value(&self, v: T) {
        // SAFETY: as in `take_value`.
        self.value.with_mut(|p| unsafe { *p = Some(v) });
    }
}

/// A FIFO of parked operations on one side of a channel. Guarded by the channel's lock:
/// every method must be called with it held.
pub struct WaitQueue<T, B: Blocker> {
    head: *const Slot<T, B>,
    tail: *const Slot<T, B>,
}

impl<T, B: Blocker> WaitQueue<T, B> {
    pub(crate) fn new() -> Self {
        WaitQueue {
            head: ptr::null(),
            tail: ptr::null(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Links `s` at the tail.
    ///
    /// # Safety
    /// `s` is bound, not linked, and stays alive (and unmoved) until it is unlinked by
    /// [`remove`](Self::remove) or by a waker.
    pub(crate) unsafe fn push_back(&mut self, s: &Slot<T, B>) {
        s.prev.set(self.tail);
        s.next.set(ptr::null());
        s.queued.set(true);
        if self.tail.is_null() {
            self.head = s;
        } else {
            // SAFETY: a linked slot is alive (push_back's contract).
            unsafe { (*self.tail).next.set(s) };
        }
        self.tail = s;
    }

    /// Unlinks `s` if it is still linked here (a waker may have done it already).
    ///
    /// # Safety
    /// `s` was pushed on this queue (or never linked).
    pub(crate) unsafe fn remove(&mut self, s: &Slot<T, B>) {
        if !s.queued.get() {
            return;
        }
        let (prev, next) = (s.prev.get(), s.next.get());
        if prev.is_null() {
            self.head = next;
        } else {
            // SAFETY: linked neighbours are alive.
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.tail = prev;
        } else {
            // SAFETY: as above.
            unsafe { (*next).prev.set(prev) };
        }
        s.queued.set(false);
        s.prev.set(ptr::null());
        s.next.set(ptr::null());
    }

    /// Unlinks and returns the head, live or stale.
    fn pop(&mut self) -> Option<&Slot<T, B>> {
        if self.head.is_null() {
            return None;
        }
        // SAFETY: a linked slot is alive until unlinked, and we hold the lock, so it stays
        // alive while the returned borrow (tied to `&mut self`, i.e. to the lock) lasts.
        let s = unsafe { &*self.head };
        // SAFETY: `s` is linked here.
        unsafe { self.remove(s) };
        Some(s)
    }

    /// Serves the first live waiter: unlinks slots from the head, dropping stale ones
    /// (their ctx was claimed through another arm, or aborted), until one whose claim
    /// succeeds. `fill` moves the value in or out of that slot; the claim is then
    /// completed and its waiter returned for the caller to wake after unlocking.
    pub(crate) fn claim_front<R>(
        &mut self,
        fill: impl FnOnce(&Slot<T, B>) -> R,
    ) -> Option<(R, Option<B::Waiter>)> {
        while let Some(s) = self.pop() {
            // SAFETY: a slot's ctx outlives its linked slots; `s` was linked until just
            // now and we still hold the lock the owner needs to free it.
            let ctx = unsafe { &*s.ctx.get() };
            if ctx.try_claim() {
                let r = fill(s);
                // SAFETY: we won the claim and unlinked `s`; neither is touched again.
                let w = unsafe { ctx.complete(s.arm.get()) };
                return Some((r, w));
            }
        }
        None
    }

    /// Completes every live waiter without touching its value (the channel disconnected:
    /// a receiver finds no value, a sender finds its value still there) and unlinks all.
    pub(crate) fn disconnect_all(&mut self, wake: &mut Vec<B::Waiter>) {
        while let Some((_, w)) = self.claim_front(|_| ()) {
            wake.extend(w);
        }
        debug_assert!(self.is_empty());
    }

    /// Whether a waiter of another blocking call (not `own`) is still WAITING: would a
    /// [`claim_front`](Self::claim_front) by `own` now find a partner?
    pub(crate) fn has_waiting_other(&self, own: &Ctx<B>) -> bool {
        let mut p = self.head;
        while !p.is_null() {
            // SAFETY: linked slots and their ctxs are alive while we hold the lock.
            let s = unsafe { &*p };
            let c = s.ctx.get();
            // SAFETY: as above.
            if !ptr::eq(c, own) && unsafe { (*c).state.load(Relaxed) } == WAITING {
                return true;
            }
            p = s.next.get();
        }
        false
    }
}

//! The wait queue every `gort::sync` type is built on: a FIFO of nodes that live on the
//! waiters' own stacks, kept inside the owning primitive's (short, never-parked-in) lock.
//!
//! ```text
//!   waiter (goroutine or thread)                 waker
//!   ----------------------------                 -----
//!   let node = Node::new();       // on stack
//!   lock; push(&node); unlock
//!   park until node.notified ───┐
//!                               │                lock; w = pop() /* takes the Waiter,
//!                               │                      then notified.store(Release) */
//!                               │                unlock; w.wake()
//!   sees notified (Acquire) <───┘
//!   return (node dies)
//! ```
//!
//! Ownership rules that keep the raw pointers sound:
//!
//! - A node is pushed under the owner's lock and leaves the queue only under that lock,
//!   either popped by a waker (which marks it notified) or removed by its waiter
//!   ([`WaitQueue::remove`], on timeout, teardown or unwinding).
//! - The waker's last access to a node is the `Release` store of `notified`; it moved the
//!   [`Waiter`] out before that, and wakes it after unlocking. So once the waiter sees
//!   `notified` (`Acquire`), nobody touches the node again and its frame may die.
//! - A waiter leaves its frame only after seeing `notified`, or after removing the node
//!   under the lock. Every blocking call arms a drop guard right after pushing, so a
//!   goroutine force-unwound while parked (runtime teardown) removes its node too.
//!
//! Lost wakeups are excluded because the waker's decision ("is anybody queued?") and the
//! waiter's registration both happen under the same lock, and a wake delivered to a waiter
//! that has not parked yet leaves a park token (see `park.rs`), so its park returns at once.
//! Park may also return spuriously; waiters loop on `notified`.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::marker::PhantomPinned;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::time::Instant;

use crate::context;
use crate::g::Wait;
use crate::waiter::{self, park_current, park_until, Waiter};

/// One waiting goroutine or thread. Lives on the waiter's stack; see the module docs.
pub(crate) struct Node {
    notified: AtomicBool,
    /// Taken by the waker (under the owner's lock) just before `notified` is set.
    waiter: UnsafeCell<Option<Waiter>>,
    _pin: PhantomPinned,
}

impl Node {
    /// A node for the calling goroutine (or thread).
    pub(crate) fn new() -> Node {
        Node {
            notified: AtomicBool::new(false),
            waiter: UnsafeCell::new(Some(Waiter::current())),
            _pin: PhantomPinned,
        }
    }

    /// Whether a waker popped this node. `Acquire` pairs with the waker's `Release`
    /// store, so everything the waker did before waking (a grant, a state change) is
    /// visible to the woken waiter.
    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Acquire)
    }
}

/// A raw pointer to a queued node.
struct NodePtr(NonNull<Node>);

// SAFETY: a `NodePtr` is only dereferenced under the lock of the primitive that owns the
// queue, while the node is queued, and the node stays alive until it leaves the queue
// (the contract of `push_back`/`push_front`). The `Waiter` inside is `Send` (an `Arc<G>`
// or a `Thread`).
unsafe impl Send for NodePtr {}

/// A FIFO of waiting nodes. Not synchronised itself: it lives inside a lock.
pub(crate) struct WaitQueue {
    nodes: VecDeque<NodePtr>,
}

/// A waiter taken out of a queue, to be woken after the owner's lock is released.
#[must_use = "a popped waiter must be woken"]
pub(crate) struct Wake(Waiter);

impl Wake {
    /// Unparks the waiter; a goroutine goes to the waker's `runnext`.
    pub(crate) fn wake(self) {
        self.0.wake();
    }
}

/// Several waiters taken out at once (`notify_all`), woken in FIFO order.
#[must_use = "popped waiters must be woken"]
pub(crate) struct WakeAll(Vec<Waiter>);

impl WakeAll {
    /// Unparks every waiter, goroutines to the tail of the run queue so FIFO order holds.
    pub(crate) fn wake(self) {
        for w in self.0 {
            match w {
                Waiter::G(g) => waiter::unpark_fifo(&g),
                Waiter::Thread(t) => t.unpark(),
            }
        }
    }
}

impl WaitQueue {
    pub(crate) const fn new() -> WaitQueue {
        WaitQueue {
            nodes: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Queues `node` at the tail.
    ///
    /// # Safety
    /// `node` must stay alive and in place until it has left the queue: until the caller
    /// saw it notified, or removed it with [`WaitQueue::remove`] under the same lock.
    pub(crate) unsafe fn push_back(&mut self, node: &Node) {
        self.nodes.push_back(NodePtr(NonNull::from(node)));
    }

    /// Queues `node` at the head (Go's `queueLifo` for a mutex waiter that already waited).
    ///
    /// # Safety
    /// As for [`WaitQueue::push_back`].
    pub(crate) unsafe fn push_front(&mut self, node: &Node) {
        self.nodes.push_front(NodePtr(NonNull::from(node)));
    }

    /// Removes `node` if it is still queued; false if a waker already popped it.
    pub(crate) fn remove(&mut self, node: &Node) -> bool {
        let target = NonNull::from(node);
        match self.nodes.iter().position(|p| p.0 == target) {
            Some(i) => {
                self.nodes.remove(i);
                true
            }
            None => false,
        }
    }

    /// Pops the head node, marks it notified and returns its waiter.
    pub(crate) fn notify_one(&mut self) -> Option<Wake> {
        let p = self.nodes.pop_front()?;
        // SAFETY: the node was queued, so it is alive (push contract); we hold the owner's
        // lock, so we are its only waker, and its waiter reads neither field until it sees
        // `notified`.
        Some(Wake(unsafe { take(p) }))
    }

    /// Pops every node, marking each notified.
    pub(crate) fn notify_all(&mut self) -> WakeAll {
        let mut v = Vec::with_capacity(self.nodes.len());
        while let Some(p) = self.nodes.pop_front() {
            // SAFETY: as in `notify_one`.
            v.push(unsafe { take(p) });
        }
        WakeAll(v)
    }
}

/// Takes the waiter out of a popped node and marks it notified: the last access to it.
///
/// # Safety
/// `p` was just popped from a queue under its owner's lock (so the node is alive and
/// nobody else touches it).
unsafe fn take(p: NodePtr) -> Waiter {
    // SAFETY: per the contract, the node is alive and ours until `notified` is set.
    let node = unsafe { p.0.as_ref() };
    // SAFETY: as above; the waiter never reads `waiter` while the node is queued.
    let w = unsafe { (*node.waiter.get()).take() }.expect("a queued node has a waiter");
    // Release: the waker's writes (grants, state) happen before the waiter's Acquire load.
    node.notified.store(true, Release);
    w
}

impl Drop for WaitQueue {
    fn drop(&mut self) {
        // A primitive cannot be dropped while borrowed, and every waiter borrows it.
        debug_assert!(self.nodes.is_empty(), "a wait queue dropped with waiters");
    }
}

/// How a [`park_on`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parked {
    /// The node was notified.
    Notified,
    /// The deadline passed first (the node may still have been notified since: re-check
    /// under the lock).
    TimedOut,
    /// The runtime is tearing down and nothing will ever wake this waiter: a gort call
    /// made by a destructor of a goroutine being dropped.
    Teardown,
}

/// Parks the caller until `node` is notified or `deadline` passes.
/// `w` is what dumps show meanwhile.
pub(crate) fn park_on(node: &Node, deadline: Option<Instant>, w: Wait) -> Parked {
    loop {
        if node.is_notified() {
            return Parked::Notified;
        }
        match deadline {
            None => {
                if context::in_teardown() {
                    return Parked::Teardown;
                }
                park_current(w);
            }
            Some(d) => {
                if park_until(d, w) {
                    return if node.is_notified() {
                        Parked::Notified
                    } else {
                        Parked::TimedOut
                    };
                }
            }
        }
    }
}

/// Waits for a notification known to be imminent (a waker is between its decision and
/// its pop). During teardown park returns at once, so this yields the thread instead:
/// the waker is then a plain thread that will finish.
pub(crate) fn wait_imminent(node: &Node, w: Wait) {
    while !node.is_notified() {
        if context::in_teardown() {
            std::thread::yield_now();
        } else {
            park_current(w);
        }
    }
}

/// Runs a closure when dropped unless defused: cleanup of a wait that is abandoned by a
/// panic or by the forced unwind of a goroutine dropped at runtime teardown.
pub(crate) struct OnUnwind<F: FnMut()> {
    f: F,
    armed: bool,
}

impl<F: FnMut()> OnUnwind<F> {
    pub(crate) fn new(f: F) -> Self {
        OnUnwind { f, armed: true }
    }

    /// The wait finished normally: do not run the cleanup.
    pub(crate) fn defuse(mut self) {
        self.armed = false;
    }
}

impl<F: FnMut()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if self.armed {
            (self.f)();
        }
    }
}

/// A blocking call that can never complete: made during runtime teardown (by a
/// destructor of a goroutine being dropped) while the primitive is held by a goroutine
/// that will never run again.
#[cold]
#[track_caller]
pub(crate) fn teardown_block(what: &str) -> ! {
    panic!(
        "gort::sync: {what} would block forever: the runtime is tearing down and dropping \
         the goroutines that could release it"
    )
}

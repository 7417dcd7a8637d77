//! The goroutine status word and the park/unpark protocol (DESIGN §4).
//!
//! Invariant: **a G is never resumed on two Ms, and an unpark that races with a park is
//! never lost.**
//!
//! The word distinguishes only what the protocol needs: ACTIVE (runnable or running: an
//! unpark has nothing to enqueue), WAITING (parked: an unpark must enqueue it), and the
//! NOTIFY bit. Whether an ACTIVE G sits in a queue or on an M is the owner's business and
//! needs no atomic update, so yielding and resuming cost no read-modify-write here.
//!
//! A goroutine parks in two steps, split across the context switch, the way Go runs a
//! park's unlock callback on g0 only after the G has switched out:
//!
//! ```text
//!   goroutine (on its own stack)             M (scheduler loop, native stack)
//!   ----------------------------             --------------------------------
//!   park():
//!     take_token()? -> return at once
//!     suspend(Park) ───────────────────────> commit_park():
//!                                              ACTIVE        -> WAITING: G is off the M;
//!                                                               whoever unparks re-queues it
//!                                              ACTIVE|NOTIFY -> ACTIVE: an unpark came in
//!                                                               between; resume the G now
//! ```
//!
//! `unpark` turns WAITING into ACTIVE and tells its caller to enqueue the G (exactly one
//! caller can win that CAS), and otherwise sets the NOTIFY bit, which the next park
//! consumes instead of sleeping. That is `std::thread::park`'s token: a park may also
//! return because of an unpark meant for an earlier wait, so callers re-check their
//! condition in a loop.
//!
//! Because WAITING is only entered by the M after the switch-out has completed, a G that
//! an unpark re-queues is never still running on its old M.

use crate::loom::{AtomicU32, Ordering::*};

/// Created, never run yet (or back in a free list).
pub(crate) const IDLE: u32 = 0;
/// In a run queue or on an M.
pub(crate) const ACTIVE: u32 = 1;
/// Parked, off every queue; an unpark makes it ACTIVE and enqueues it.
pub(crate) const WAITING: u32 = 3;
/// Finished.
pub(crate) const DEAD: u32 = 4;
/// An unpark arrived while the G was ACTIVE; the next park returns at once.
const NOTIFY: u32 = 1 << 8;
const STATUS: u32 = NOTIFY - 1;

pub(crate) struct GState(AtomicU32);

impl GState {
    pub(crate) fn new() -> Self {
        GState(AtomicU32::new(IDLE))
    }

    pub(crate) fn status(&self) -> u32 {
        self.0.load(Acquire) & STATUS
    }

    /// IDLE -> ACTIVE, by the spawner, which owns the G and has not published it yet.
    pub(crate) fn activate(&self) {
        // Release: the spawner's writes to the G happen before anyone who sees it ACTIVE.
        self.0.store(ACTIVE, Release);
    }

    /// -> DEAD (clearing any token), by the M that saw the goroutine finish, or at
    /// teardown.
    pub(crate) fn kill(&self) {
        self.0.swap(DEAD, AcqRel);
    }

    /// DEAD -> IDLE when a G goes back to a free list (nothing else can see it then).
    pub(crate) fn reset(&self) {
        self.0.store(IDLE, Relaxed);
    }

    /// Makes the G runnable if it is WAITING; returns true when the caller must now
    /// enqueue it. Otherwise leaves a token for its next park.
    pub(crate) fn unpark(&self) -> bool {
        let mut s = self.0.load(Acquire);
        loop {
            let new = match s & STATUS {
                WAITING => ACTIVE,
                DEAD | IDLE => return false,
                _ if s & NOTIFY != 0 => return false,
                _ => s | NOTIFY,
            };
            // AcqRel: release the waker's writes (the condition the G will re-check) to
            // the G; acquire so a chain of wakers stays ordered.
            match self.0.compare_exchange_weak(s, new, AcqRel, Acquire) {
                Ok(_) => return s & STATUS == WAITING,
                Err(actual) => s = actual,
            }
        }
    }

    /// Called by the running G before it suspends: consumes a pending token.
    pub(crate) fn take_token(&self) -> bool {
        // Acquire pairs with the release in `unpark`.
        self.0.fetch_and(!NOTIFY, AcqRel) & NOTIFY != 0
    }

    /// Called by the M after the G switched out with a park request. True: the G is now
    /// WAITING and belongs to whoever unparks it. False: a token arrived; the G stays
    /// ACTIVE and the M must resume it.
    pub(crate) fn commit_park(&self) -> bool {
        match self.0.compare_exchange(ACTIVE, WAITING, AcqRel, Acquire) {
            Ok(_) => true,
            Err(actual) => {
                debug_assert_eq!(actual, ACTIVE | NOTIFY);
                // Only unpark writes concurrently, and with NOTIFY set it writes nothing.
                self.0.store(ACTIVE, Relaxed);
                false
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn unpark_before_park_leaves_a_token() {
        let s = GState::new();
        s.activate();
        assert!(!s.unpark());
        assert!(!s.unpark(), "a second unpark does not enqueue either");
        assert!(s.take_token());
        assert!(!s.take_token(), "the token is consumed once");
    }

    #[test]
    fn unpark_of_a_waiting_g_enqueues_exactly_once() {
        let s = GState::new();
        s.activate();
        assert!(s.commit_park());
        assert_eq!(s.status(), WAITING);
        assert!(s.unpark());
        assert!(!s.unpark());
        assert_eq!(s.status(), ACTIVE);
        assert!(
            s.take_token(),
            "the second unpark left a token for the next park"
        );
    }

    #[test]
    fn unpark_between_suspend_and_commit_resumes_instead_of_sleeping() {
        let s = GState::new();
        s.activate();
        assert!(!s.take_token());
        assert!(!s.unpark());
        assert!(!s.commit_park());
        assert_eq!(s.status(), ACTIVE);
    }

    #[test]
    fn dead_goroutines_ignore_unpark() {
        let s = GState::new();
        s.kill();
        assert!(!s.unpark());
        assert_eq!(s.status(), DEAD);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;

    /// A goroutine parks on a flag while another thread sets the flag and unparks it.
    /// In every interleaving the goroutine ends up running again exactly once: through
    /// its token, through a failed commit, or by the unparker enqueueing it.
    #[test]
    fn loom_park_unpark_never_loses_a_wakeup() {
        loom::model(|| {
            let state = Arc::new(GState::new());
            let flag = Arc::new(AtomicBool::new(false));
            state.activate();
            let (s2, f2) = (state.clone(), flag.clone());
            let waker = thread::spawn(move || {
                f2.store(true, Release);
                s2.unpark()
            });
            // The goroutine's side: re-check the condition around one park.
            let mut resumed_itself = false;
            let mut parked = false;
            if !flag.load(Acquire) {
                if state.take_token() || !state.commit_park() {
                    resumed_itself = true;
                } else {
                    parked = true;
                }
            }
            let enqueued = waker.join().unwrap();
            assert_eq!(enqueued, parked, "enqueued iff committed to WAITING");
            assert!(!(enqueued && resumed_itself), "never resumed twice");
            if parked {
                assert_eq!(state.status(), ACTIVE);
            }
            assert!(flag.load(Acquire));
        });
    }

    /// Two wakers race to unpark one WAITING goroutine: exactly one enqueues it.
    #[test]
    fn loom_two_unparkers_enqueue_once() {
        loom::model(|| {
            let state = Arc::new(GState::new());
            state.activate();
            assert!(state.commit_park());
            let s2 = state.clone();
            let t = thread::spawn(move || s2.unpark());
            let a = state.unpark();
            let b = t.join().unwrap();
            assert!(a ^ b);
        });
    }
}

//! One readiness slot (read or write side of a descriptor): `EMPTY`, `READY`, or a waiter
//! token. Go's `pollDesc.rg` / `wg` without the intermediate `pdWait` state: gort's park
//! protocol already tolerates a wake that arrives before the goroutine has parked.

#[cfg(loom)]
use loom::sync::atomic::AtomicUsize;
#[cfg(not(loom))]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::AcqRel;
use std::sync::atomic::Ordering::Acquire;

/// Nothing happened since the last consumer, and nobody waits.
pub(crate) const EMPTY: usize = 0;
/// An edge arrived that nobody has consumed yet.
pub(crate) const READY: usize = 1;

/// Which side of a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Readable (data, a pending connection, end of stream or an error).
    Read,
    /// Writable (buffer space, a finished connect, or an error).
    Write,
}

/// The result of [`Poller::arm`](crate::Poller::arm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arm {
    /// Readiness arrived since the last attempt (now consumed): retry the operation.
    Ready,
    /// The token is in the slot: park, and call `disarm` once woken.
    Parked,
    /// Another waiter's token is already in this slot (two readers on one side).
    Busy,
    /// The descriptor is being closed.
    Closed,
}

pub(crate) struct Slot(AtomicUsize);

impl Slot {
    pub(crate) fn new() -> Slot {
        Slot(AtomicUsize::new(EMPTY))
    }

    /// Consumes a `READY`, or puts `token` in an empty slot.
    pub(crate) fn arm(&self, token: usize) -> Arm {
        debug_assert!(
            token > READY && token % 2 == 0,
            "tokens are nonzero and even"
        );
        let mut cur = self.0.load(Acquire);
        loop {
            let (next, result) = match cur {
                READY => (EMPTY, Arm::Ready),
                EMPTY => (token, Arm::Parked),
                _ => return Arm::Busy,
            };
            // AcqRel: the acquire pairs with the poller's release swap (the readiness it
            // recorded happened before our retry); the release publishes the token.
            match self.0.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return result,
                Err(now) => cur = now,
            }
        }
    }

    /// Takes `token` back if it is still there; false when someone else took it.
    pub(crate) fn disarm(&self, token: usize) -> bool {
        self.0
            .compare_exchange(token, EMPTY, AcqRel, Acquire)
            .is_ok()
    }

    /// Records an edge; returns the token it displaced, if any.
    pub(crate) fn set_ready(&self) -> Option<usize> {
        // AcqRel: release pairs with `arm`'s acquire; acquire takes ownership of a token.
        token(self.0.swap(READY, AcqRel))
    }

    /// Empties the slot (registration or close); returns the token it held, if any.
    pub(crate) fn clear(&self) -> Option<usize> {
        token(self.0.swap(EMPTY, AcqRel))
    }
}

fn token(v: usize) -> Option<usize> {
    (v > READY).then_some(v)
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A waiter arms and later disarms while the poller records an edge and a closer
    /// clears the slot: the token is taken by exactly one party, and an edge is never
    /// lost (either the waiter saw `Ready`, or someone took its token, or `READY` stays).
    #[test]
    fn loom_token_has_one_owner_and_edges_are_not_lost() {
        loom::model(|| {
            let s = Arc::new(Slot::new());
            let poller = {
                let s = s.clone();
                loom::thread::spawn(move || s.set_ready())
            };
            let armed = s.arm(8);
            let took_back = armed == Arm::Parked && s.disarm(8);
            let polled = poller.join().unwrap();
            let cleared = s.clear();
            let owners = [took_back, polled == Some(8), cleared == Some(8)]
                .iter()
                .filter(|&&b| b)
                .count();
            if armed == Arm::Parked {
                assert_eq!(owners, 1, "token owned by exactly one party");
            } else {
                assert_eq!(owners, 0);
            }
            // The edge: consumed as Ready, or it woke the waiter, or it is still there
            // (`clear` found READY, reported as no token).
            let edge_seen = armed == Arm::Ready || polled == Some(8);
            assert!(edge_seen || cleared.is_none());
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ready_is_consumed_once() {
        let s = Slot::new();
        assert_eq!(s.set_ready(), None);
        assert_eq!(s.arm(8), Arm::Ready);
        assert_eq!(s.arm(8), Arm::Parked);
    }

    #[test]
    fn poller_takes_the_token_exactly_once() {
        let s = Slot::new();
        assert_eq!(s.arm(8), Arm::Parked);
        assert_eq!(s.arm(16), Arm::Busy);
        assert_eq!(s.set_ready(), Some(8));
        assert!(!s.disarm(8), "the poller owns it now");
        assert_eq!(s.set_ready(), None, "a second edge carries no token");
        assert_eq!(s.arm(8), Arm::Ready);
    }

    #[test]
    fn waiter_takes_its_token_back() {
        let s = Slot::new();
        assert_eq!(s.arm(8), Arm::Parked);
        assert!(s.disarm(8));
        assert_eq!(s.clear(), None);
        assert_eq!(s.arm(8), Arm::Parked);
        assert_eq!(s.clear(), Some(8));
    }
}

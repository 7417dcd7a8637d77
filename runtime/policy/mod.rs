//! Scheduling policies: every decision `schedule()` makes, as one trait.
//!
//! ```text
//!  spawn ──────────► spawned() ─┐
//!  wake (unpark, timer) ► woken() ─┤   Place::Runnext ─► this P's runnext slot ─┐
//!  yield, preempt ──► yielded() ─┘   Place::LocalTail ─► this P's ring ─────────┤
//!                                    Place::Global ────► global queue ──────────┤
//!                                    Place::P(i) ──────► P i's inbox ───────────┤
//!                                                                               ▼
//!  find_runnable (on the M holding P):
//!    1. every global_queue_interval()-th tick: one from the global queue
//!    2. runnext (at most runnext_limit() runs in a row), then the ring
//!    3. the P's inbox, then a batch of global_batch() from the global queue
//!    4. the netpoller (not a policy decision)
//!    5. steal: steal().rounds rounds over victims in steal().order, taking
//!       steal().permille of each victim's ring, if spinning() lets this M spin
//!    6. give the P back and sleep
//!  a run ends at a scheduling point after quantum() (cycle counter), or at
//!  sysmon's request after the hog threshold
//! ```
//!
//! The runtime calls a policy through [`Choice`], an enum: the built-in policies are its
//! variants, matched and inlined (Go's costs what the hard-wired path did), and a
//! policy written outside the crate is one more variant, called through `dyn Policy`.
//! The per-event methods (`spawned`, `woken`, `yielded`) run on every spawn, wakeup and
//! yield; the others are read once when the runtime is built, so an explicit
//! [`Builder`](crate::Builder) knob (`steal_rounds`, `global_queue_interval`, ...)
//! overrides what the policy says.
//!
//! ```
//! use gort::policy::{Place, Policy, View};
//!
//! /// Sends every woken goroutine to the global queue.
//! struct WakeGlobal;
//!
//! impl Policy for WakeGlobal {
//!     fn name(&self) -> &str {
//!         "wake-global"
//!     }
//!     fn woken(&self, _at: &View<'_>) -> Place {
//!         Place::Global
//!     }
//! }
//!
//! let rt = gort::Builder::new().procs(2).policy(WakeGlobal).build().unwrap();
//! assert_eq!(rt.config().policy.name(), "wake-global");
//! assert_eq!(rt.block_on(|| gort::spawn(|| 6 * 7).join().unwrap()), 42);
//! ```

mod builtin;
mod view;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::config::{SpinningLimit, VictimOrder};
pub use builtin::BuiltIn;
pub use view::View;

/// Where a runnable goroutine goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The current P's `runnext` slot: it runs next, inheriting the time slice (Go's
    /// choice for spawns and wakeups). The goroutine it displaces goes to the ring's tail.
    Runnext,
    /// The tail of the current P's local ring.
    LocalTail,
    /// The tail of the global queue, shared by every P.
    Global,
    /// The inbox of P `i` (`i < procs`), which that P drains before the global queue;
    /// an idle P is woken for it. Out of range means the global queue.
    P(usize),
}

/// How an M without work steals from other Ps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steal {
    /// Rounds over every other P before giving up (0: never steal, never spin).
    pub rounds: u32,
    /// Share of a victim's ring taken, in thousandths (500: half; 1: one goroutine).
    pub permille: u32,
    /// Order in which victims are visited.
    pub order: VictimOrder,
}

impl Steal {
    /// Go's stealing: 4 rounds, half the victim's queue, random coprime order.
    pub const GO: Steal = Steal {
        rounds: 4,
        permille: 500,
        order: VictimOrder::RandomCoprime,
    };
}

/// A scheduling policy. Every method has Go's answer as its default, so a policy states
/// only where it differs. Per-event methods must be cheap and must not block or call
/// into gort: they run inside the scheduler.
pub trait Policy: Send + Sync + 'static {
    /// A short name, shown in `Runtime::config()`, metrics and the lab's tables.
    fn name(&self) -> &str;

    /// Where a goroutine spawned by a goroutine goes. Spawns from plain threads always
    /// go to the global queue.
    fn spawned(&self, _at: &View<'_>) -> Place {
        Place::Runnext
    }

    /// Where a goroutine woken by a goroutine (channel, lock, join) or by a timer goes.
    /// Wakeups from plain threads and the netpoller go to the global queue.
    fn woken(&self, _at: &View<'_>) -> Place {
        Place::Runnext
    }

    /// Where a goroutine that yielded (`yield_now`, a preempted `checkpoint`) goes.
    fn yielded(&self, _at: &View<'_>) -> Place {
        Place::LocalTail
    }

    /// Every this many scheduler ticks a P takes one goroutine from the global queue
    /// before its own, so local work cannot starve it (Go: 61; at least 1).
    fn global_queue_interval(&self) -> u32 {
        61
    }

    /// Most goroutines a P takes from the global queue at once; the rest of the batch
    /// goes to its ring (0: Go's `len/procs + 1`, capped at half a ring).
    fn global_batch(&self) -> usize {
        0
    }

    /// Runs in a row from `runnext` before its goroutine goes to the ring's tail
    /// instead (tokio's LIFO cap of 3); `None`: only Go's time-slice rule.
    fn runnext_limit(&self) -> Option<u32> {
        None
    }

    /// Victim choice, steal amount and rounds.
    fn steal(&self) -> Steal {
        Steal::GO
    }

    /// How many Ms may spin looking for work at once.
    fn spinning(&self) -> SpinningLimit {
        SpinningLimit::HalfBusy
    }

    /// A run longer than this yields at its next scheduling point (cycle counter, no
    /// sysmon); `None`: only sysmon's request after the hog threshold.
    fn quantum(&self) -> Option<Duration> {
        None
    }

    /// Which built-in this is; outside policies keep the default.
    #[doc(hidden)]
    fn built_in(&self) -> Option<BuiltIn> {
        None
    }
}

/// The policy a runtime runs: a built-in one (statically dispatched) or one defined
/// outside gort. Read it back with `Runtime::config().policy`.
#[derive(Clone)]
pub enum Choice {
    /// One of gort's policies.
    BuiltIn(BuiltIn),
    /// A policy defined outside the crate.
    Outside(Arc<dyn Policy>),
}

impl Choice {
    /// Wraps a policy, recognising the built-ins so they are matched, not called
    /// through a vtable.
    pub fn new<T: Policy>(policy: T) -> Choice {
        match policy.built_in() {
            Some(b) => Choice::BuiltIn(b),
            None => Choice::Outside(Arc::new(policy)),
        }
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        match self {
            Choice::BuiltIn(b) => b.name(),
            Choice::Outside(p) => p.name(),
        }
    }

    /// The policy behind the choice.
    pub fn policy(&self) -> &dyn Policy {
        match self {
            Choice::BuiltIn(b) => b,
            Choice::Outside(p) => &**p,
        }
    }

    /// The decisions that need no view, resolved once when the runtime is built, so the
    /// hot paths test one byte instead of calling the policy.
    pub(crate) fn fixed(&self) -> Decisions {
        match self {
            Choice::BuiltIn(b) => b.fixed(),
            Choice::Outside(_) => Decisions {
                spawned: Fixed::Ask,
                woken: Fixed::Ask,
                yielded: Fixed::Ask,
            },
        }
    }

    #[inline(always)]
    pub(crate) fn spawned(&self, at: &View<'_>) -> Place {
        match self {
            Choice::BuiltIn(b) => b.spawned(at),
            Choice::Outside(p) => p.spawned(at),
        }
    }

    #[inline(always)]
    pub(crate) fn woken(&self, at: &View<'_>) -> Place {
        match self {
            Choice::BuiltIn(b) => b.woken(at),
            Choice::Outside(p) => p.woken(at),
        }
    }

    #[inline(always)]
    pub(crate) fn yielded(&self, at: &View<'_>) -> Place {
        match self {
            Choice::BuiltIn(b) => b.yielded(at),
            Choice::Outside(p) => p.yielded(at),
        }
    }
}

/// A decision known in advance, or `Ask`: call the policy with a [`View`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fixed {
    Runnext,
    LocalTail,
    Global,
    Ask,
}

impl Fixed {
    /// The place this stands for; `Ask` is the built-in `work-sharing` choice, the
    /// least-loaded P (outside policies are never asked through here).
    pub(crate) fn place(self, at: &View<'_>) -> Place {
        match self {
            Fixed::Runnext => Place::Runnext,
            Fixed::LocalTail => Place::LocalTail,
            Fixed::Global => Place::Global,
            Fixed::Ask => Place::P(at.least_loaded()),
        }
    }
}

/// The per-event decisions of a policy, resolved when the runtime is built.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decisions {
    pub(crate) spawned: Fixed,
    pub(crate) woken: Fixed,
    pub(crate) yielded: Fixed,
}

impl Default for Choice {
    fn default() -> Self {
        Choice::BuiltIn(BuiltIn::Go)
    }
}

impl fmt::Debug for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

/// An unknown policy name, with the valid ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown policy {:?}; valid policies: {}",
            self.0,
            BuiltIn::NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownPolicy {}

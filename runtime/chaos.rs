//! Chaos scheduling (`GORT_CHAOS=<seed>`, [`Builder::chaos`](crate::Builder::chaos)):
//! perturbs the decisions a correct program must not depend on, so tests meet
//! interleavings that the default policy rarely produces.
//!
//! At each perturbation point an M rolls its own seeded generator (the runtime's seed
//! mixed with the M's id, so a seed gives the same stream of rolls per M; the threads'
//! interleaving still varies from run to run):
//!
//! - a scheduling point (`checkpoint`, which every channel, lock, sleep and socket call
//!   passes) yields, 1 in [`YIELD_ODDS`];
//! - a woken goroutine goes to the tail of the local queue instead of `runnext`
//!   (a delayed wakeup), 1 in [`DELAY_ODDS`], or to the global queue where any P may
//!   take it (a moved wakeup), 1 in [`MOVE_ODDS`];
//! - a steal takes one goroutine instead of half, 1 in [`STEAL_ONE_ODDS`].
//!
//! Off, each point costs one load of the M's chaos state and a predictable branch.

use std::sync::Once;

use crate::context::MContext;

/// A scheduling point yields once in this many.
pub(crate) const YIELD_ODDS: u64 = 16;
/// A wakeup goes to the local tail once in this many.
pub(crate) const DELAY_ODDS: u64 = 4;
/// A wakeup goes to the global queue once in this many.
pub(crate) const MOVE_ODDS: u64 = 4;
/// A steal takes a single goroutine once in this many.
pub(crate) const STEAL_ONE_ODDS: u64 = 2;

/// The generator state an M starts with (never 0: 0 means off).
pub(crate) fn seed_for_m(seed: Option<u64>, m: usize) -> u64 {
    match seed {
        None => 0,
        Some(s) => (s ^ (m as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1,
    }
}

/// Says once per process that chaos is on, with the seed that replays it.
pub(crate) fn announce(seed: u64) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| eprintln!("gort: chaos mode, seed {seed}"));
}

impl MContext {
    /// Whether chaos is on for this M.
    #[inline(always)]
    pub(crate) fn chaos_on(&self) -> bool {
        self.chaos.get() != 0
    }

    /// True once in `odds` (only call with chaos on).
    #[cold]
    pub(crate) fn chaos_roll(&self, odds: u64) -> bool {
        let mut x = self.chaos.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.chaos.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % odds == 0
    }
}

/// Where a woken goroutine goes.
pub(crate) enum Placement {
    /// This P's queue; `runnext` when true.
    Local(bool),
    /// The global queue.
    Global,
}

/// Chaos's choice for a wakeup that asked for `next` (only call with chaos on).
#[cold]
pub(crate) fn place_wakeup(ctx: &MContext, next: bool) -> Placement {
    if ctx.chaos_roll(MOVE_ODDS) {
        Placement::Global
    } else if ctx.chaos_roll(DELAY_ODDS) {
        Placement::Local(false)
    } else {
        Placement::Local(next)
    }
}

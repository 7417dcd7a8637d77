//! The lab's outside policy: a scheduling policy written against gort's public `Policy`
//! trait, as a user would write one, and measured in the same matrix as the built-ins.
//! docs/research.md shows the same code as a complete program (checked as a doctest).

use gort::policy::{Place, Policy, View};

/// Go's policy, except for wakeups: a woken goroutine goes to the least-loaded P when
/// the waker's P has at least two more goroutines waiting than that P; otherwise it
/// takes `runnext` as in Go. Spawns stay local. The idea: keep Go's cheap handoff for
/// a pair of goroutines (nothing waiting), spread a burst of wakeups at once instead of
/// waiting for idle Ps to steal it.
pub struct WakeBalance;

impl Policy for WakeBalance {
    fn name(&self) -> &str {
        "lab-wake-balance"
    }

    fn woken(&self, at: &View<'_>) -> Place {
        let Some(me) = at.current() else {
            return Place::Runnext;
        };
        let idlest = at.least_loaded();
        if idlest != me && at.queue_len(me) >= at.queue_len(idlest) + 2 {
            Place::P(idlest)
        } else {
            Place::Runnext
        }
    }
}

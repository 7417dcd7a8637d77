//! The built-in policies: Go's default and the alternatives research compares it with.

use std::str::FromStr;

use super::{Place, Policy, SpinningLimit, Steal, UnknownPolicy, VictimOrder, View};

/// gort's built-in policies, selectable by name (`GORT_POLICY=<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltIn {
    /// `go`: Go's `proc.go`. Spawns and wakeups take `runnext` and inherit the time
    /// slice; one global pull every 61 ticks; 4 rounds of half-queue steals from
    /// victims in random coprime order; spinning Ms ≤ half the busy Ps.
    Go,
    /// `tokio`: tokio's multi-threaded scheduler. A LIFO slot (`runnext`) that runs at
    /// most 3 times in a row; one global pull every 31 ticks; one round of half-queue
    /// steals from a random start in index order.
    Tokio,
    /// `steal-one`: Go's, but a thief takes a single goroutine instead of half.
    StealOne,
    /// `round-robin-victims`: Go's, but victims are visited from the thief's own index
    /// onward, with no randomness.
    RoundRobinVictims,
    /// `no-runnext`: Go's, but spawned and woken goroutines go to the ring's tail.
    NoRunnext,
    /// `global-fifo`: one shared FIFO queue for everything, a goroutine at a time, no
    /// local queues in use and no stealing: the centralized dispatcher of Shinjuku- and
    /// Concord-style systems.
    GlobalFifo,
    /// `work-sharing`: new, woken and yielding goroutines are pushed to the P with the
    /// shortest queue (the current one on a tie); no stealing.
    WorkSharing,
}

impl BuiltIn {
    /// Every built-in policy, Go's first.
    pub const ALL: [BuiltIn; 7] = [
        BuiltIn::Go,
        BuiltIn::Tokio,
        BuiltIn::StealOne,
        BuiltIn::RoundRobinVictims,
        BuiltIn::NoRunnext,
        BuiltIn::GlobalFifo,
        BuiltIn::WorkSharing,
    ];

    /// Their names, in the same order.
    pub const NAMES: [&'static str; 7] = [
        "go",
        "tokio",
        "steal-one",
        "round-robin-victims",
        "no-runnext",
        "global-fifo",
        "work-sharing",
    ];

    /// The policy called `name`, or an error listing the valid names.
    pub fn by_name(name: &str) -> Result<BuiltIn, UnknownPolicy> {
        let i = Self::NAMES.iter().position(|n| *n == name.trim());
        i.map(|i| Self::ALL[i])
            .ok_or_else(|| UnknownPolicy(name.to_string()))
    }
}

impl BuiltIn {
    /// This policy's per-event decisions, for the runtime's fast paths; the `Policy`
    /// methods below answer from it too, so the two cannot disagree.
    pub(crate) fn fixed(self) -> super::Decisions {
        use super::Fixed;
        let (spawned, yielded) = match self {
            BuiltIn::NoRunnext => (Fixed::LocalTail, Fixed::LocalTail),
            BuiltIn::GlobalFifo => (Fixed::Global, Fixed::Global),
            BuiltIn::WorkSharing => (Fixed::Ask, Fixed::Ask),
            _ => (Fixed::Runnext, Fixed::LocalTail),
        };
        super::Decisions {
            spawned,
            woken: spawned,
            yielded,
        }
    }
}

impl FromStr for BuiltIn {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BuiltIn::by_name(s)
    }
}

impl Policy for BuiltIn {
    fn name(&self) -> &str {
        Self::NAMES[*self as usize]
    }

    fn spawned(&self, at: &View<'_>) -> Place {
        self.fixed().spawned.place(at)
    }

    fn woken(&self, at: &View<'_>) -> Place {
        self.fixed().woken.place(at)
    }

    fn yielded(&self, at: &View<'_>) -> Place {
        self.fixed().yielded.place(at)
    }

    fn global_queue_interval(&self) -> u32 {
        match self {
            BuiltIn::Tokio => 31,
            _ => 61,
        }
    }

    fn global_batch(&self) -> usize {
        match self {
            BuiltIn::GlobalFifo => 1,
            _ => 0,
        }
    }

    fn runnext_limit(&self) -> Option<u32> {
        match self {
            BuiltIn::Tokio => Some(3),
            _ => None,
        }
    }

    fn steal(&self) -> Steal {
        match self {
            BuiltIn::Tokio => Steal {
                rounds: 1,
                permille: 500,
                order: VictimOrder::RandomStart,
            },
            BuiltIn::StealOne => Steal {
                permille: 1,
                ..Steal::GO
            },
            BuiltIn::RoundRobinVictims => Steal {
                order: VictimOrder::RoundRobin,
                ..Steal::GO
            },
            BuiltIn::GlobalFifo | BuiltIn::WorkSharing => Steal {
                rounds: 0,
                ..Steal::GO
            },
            _ => Steal::GO,
        }
    }

    fn spinning(&self) -> SpinningLimit {
        SpinningLimit::HalfBusy
    }

    fn built_in(&self) -> Option<BuiltIn> {
        Some(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for (b, n) in BuiltIn::ALL.iter().zip(BuiltIn::NAMES) {
            assert_eq!(b.name(), n);
            assert_eq!(BuiltIn::by_name(n), Ok(*b));
        }
        let e = BuiltIn::by_name("fifo").unwrap_err().to_string();
        assert!(e.contains("\"fifo\""), "{e}");
        for n in BuiltIn::NAMES {
            assert!(e.contains(n), "{e} lacks {n}");
        }
    }
}

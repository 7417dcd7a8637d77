//! Named configurations: the runtimes the lab compares, each against `go`.
//!
//! There are three kinds, all filling the same [`LabConfig`] and going through the same
//! matrix, tables and plots:
//!
//! - **policies**: gort's seven built-in scheduling policies, applied with
//!   `Builder::policy(BuiltIn::...)` and named as the runtime names them
//!   (`BuiltIn::NAMES`). They are the default matrix; `go` is the baseline.
//! - **an outside policy**: [`WakeBalance`](super::outside::WakeBalance)
//!   (`lab-wake-balance`), written in the lab against the public `Policy` trait, to show
//!   that a policy defined outside gort is measured like a built-in one.
//! - **knobs**: Go's policy with one `Builder` knob changed, for the choices no policy
//!   covers (no stealing at all, a fairness tick of 1, no spinning, a shorter inherited
//!   time slice). The knob versions of `no-runnext`, `steal-one` and victim order are
//!   gone: the policies of the same names do the same.
//!
//! Every configuration sets its policy explicitly, so a `GORT_POLICY` in the
//! environment cannot change what a row measures.

use std::time::Duration;

use gort::policy::BuiltIn;
use gort::{Builder, SpinningLimit};

use super::outside::WakeBalance;

/// What kind of configuration this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A built-in policy of gort.
    Policy,
    /// A policy defined in the lab (outside the runtime crate).
    Outside,
    /// Go's policy with a `Builder` knob changed.
    Knob,
}

impl Kind {
    /// A word for tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Policy => "built-in policy",
            Kind::Outside => "outside policy",
            Kind::Knob => "knob",
        }
    }
}

/// A named way to configure a runtime.
#[derive(Clone, Copy, Debug)]
pub struct LabConfig {
    /// Short name used on the command line, in tables and legends.
    pub name: &'static str,
    /// What it changes relative to `go`.
    pub about: &'static str,
    /// Policy, outside policy or knob.
    pub kind: Kind,
    /// Whether `--sim` can run it: not when all it changes is real time, which
    /// simulation does not have (no time slice ever expires there).
    pub simulable: bool,
    apply: fn(Builder) -> Builder,
}

impl LabConfig {
    /// Applies this configuration to `b`.
    pub fn apply(&self, b: Builder) -> Builder {
        (self.apply)(b)
    }
}

/// The baseline every ratio is taken against.
pub const BASELINE: &str = "go";

/// How many of [`ALL`]'s first entries are the built-in policies (the default matrix).
pub const POLICIES: usize = 7;

/// Every configuration: the built-in policies (Go's first, in `BuiltIn::ALL` order), the
/// outside policy, then the knobs.
pub const ALL: &[LabConfig] = &[
    LabConfig {
        name: "go",
        about: "Go's proc.go: spawns and wakeups take runnext, 1 global pull per 61 ticks, \
                4 rounds of half-queue steals from random victims, spinning ≤ half the busy Ps \
                (baseline)",
        kind: Kind::Policy,
        simulable: true,
        apply: |b| b.policy(BuiltIn::Go),
    },
    LabConfig {
        name: "tokio",
        about: "tokio's: LIFO slot capped at 3 runs in a row, global pull every 31 ticks, \
                1 round of half-queue steals from a random start in index order",
        kind: Kind::Policy,
        simulable: true,
        apply: |b| b.policy(BuiltIn::Tokio),
    },
    LabConfig {
        name: "steal-one",
        about: "Go's, but a thief takes one goroutine instead of half the victim's queue",
        kind: Kind::Policy,
        simulable: true,
        apply: |b| b.policy(BuiltIn::StealOne),
    },
    LabConfig {
        name: "round-robin-victims",
        about: "Go's, but victims are visited from the thief's own index on, no randomness",
        kind: Kind::Policy,
        simulable: true,
        apply: |b| b.policy(BuiltIn::RoundRobinVictims),
    },
    LabConfig {
        name: "no-runnext",
        about: "Go's, but spawned and woken goroutines go to the tail of the local ring",
        kind: Kind::Policy,
        simulable: true,
        apply: |b| b.policy(BuiltIn::NoRunnext),
    },
    LabConfig {
        name: "global-fifo",
        about: "one shared FIFO for everything, one goroutine per pull, no stealing \
                (a centralized dispatcher)",
        kind: Kind::Policy,
        simulable: true,
        apply: |b| b.policy(BuiltIn::GlobalFifo),
    },
    LabConfig {
        name: "work-sharing",
        about: "new, woken and yielding goroutines are pushed to the P with the shortest queue \
                (the current one on a tie); no stealing",
        kind: Kind::Policy,
        simulable: true,
        apply: |b| b.policy(BuiltIn::WorkSharing),
    },
    LabConfig {
        name: "lab-wake-balance",
        about: "Go's, but a woken goroutine goes to the least-loaded P when the waker's P has \
                2+ more goroutines waiting (tools/src/lab/outside.rs)",
        kind: Kind::Outside,
        simulable: true,
        apply: |b| b.policy(WakeBalance),
    },
    LabConfig {
        name: "no-steal",
        about: "Go's with steal_rounds 0: idle Ps never steal (only the global queue balances)",
        kind: Kind::Knob,
        simulable: true,
        apply: |b| b.policy(BuiltIn::Go).steal_rounds(0),
    },
    LabConfig {
        name: "global-every-tick",
        about: "Go's with global_queue_interval 1: the global queue is checked first on every tick",
        kind: Kind::Knob,
        simulable: true,
        apply: |b| b.policy(BuiltIn::Go).global_queue_interval(1),
    },
    LabConfig {
        name: "no-spin",
        about: "Go's with no spinning Ms: an M without work parks at once",
        kind: Kind::Knob,
        simulable: true,
        apply: |b| b.policy(BuiltIn::Go).spinning(SpinningLimit::AtMost(0)),
    },
    LabConfig {
        name: "slice-100us",
        about: "Go's with a 100 µs inherited slice for runnext chains instead of 10 ms",
        kind: Kind::Knob,
        simulable: false,
        apply: |b| b.policy(BuiltIn::Go).time_slice(Duration::from_micros(100)),
    },
];

/// The default matrix: the seven built-in policies.
pub fn default_set() -> Vec<&'static LabConfig> {
    ALL[..POLICIES].iter().collect()
}

/// The configurations a `--configs` item names: one configuration, or a group
/// (`policies`: the built-ins, `outside`, `knobs`, `all`).
pub fn by_name(name: &str) -> Option<Vec<&'static LabConfig>> {
    let of = |k: Kind| ALL.iter().filter(|c| c.kind == k).collect::<Vec<_>>();
    match name {
        "policies" => Some(of(Kind::Policy)),
        "outside" => Some(of(Kind::Outside)),
        "knobs" => Some(of(Kind::Knob)),
        "all" => Some(ALL.iter().collect()),
        _ => ALL.iter().find(|c| c.name == name).map(|c| vec![c]),
    }
}

/// Names of all configurations and groups, for error messages.
pub fn names() -> String {
    let mut v: Vec<&str> = ALL.iter().map(|c| c.name).collect();
    v.extend(["policies", "outside", "knobs", "all"]);
    v.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_builds_a_valid_runtime_config() {
        for c in ALL {
            let b = c.apply(gort::Runtime::builder().procs(2).chaos(None));
            let cfg = b.config();
            assert!(cfg.is_ok(), "{}: {:?}", c.name, cfg);
            let policy = cfg.unwrap().policy;
            match c.kind {
                Kind::Knob => assert_eq!(policy.name(), "go"),
                _ => assert_eq!(policy.name(), c.name),
            }
        }
        assert_eq!(ALL[0].name, BASELINE);
    }

    #[test]
    fn the_policies_are_the_runtimes_built_ins_in_order() {
        let names: Vec<&str> = ALL[..POLICIES].iter().map(|c| c.name).collect();
        assert_eq!(names, BuiltIn::NAMES);
        assert!(ALL[POLICIES..].iter().all(|c| c.kind != Kind::Policy));
    }
}

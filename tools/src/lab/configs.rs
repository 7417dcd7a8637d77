//! Named configurations: sets of `Builder` knobs compared against `go`, the defaults.
//! When the `Policy` trait exists, a policy becomes one more way to fill a `LabConfig`.

use std::time::Duration;

use gort::{Builder, SpinningLimit, VictimOrder};

/// A named set of knob values.
#[derive(Clone, Copy, Debug)]
pub struct LabConfig {
    /// Short name used on the command line, in tables and legends.
    pub name: &'static str,
    /// What it changes relative to `go`.
    pub about: &'static str,
    apply: fn(Builder) -> Builder,
}

impl LabConfig {
    /// Applies this configuration's knobs to `b`.
    pub fn apply(&self, b: Builder) -> Builder {
        (self.apply)(b)
    }
}

/// The baseline every ratio is taken against.
pub const BASELINE: &str = "go";

/// Every configuration, baseline first.
pub const ALL: &[LabConfig] = &[
    LabConfig {
        name: "go",
        about: "Go's defaults (baseline)",
        apply: |b| b,
    },
    LabConfig {
        name: "no-runnext",
        about: "spawned and woken goroutines go to the tail of the local queue",
        apply: |b| b.runnext(false),
    },
    LabConfig {
        name: "steal-one",
        about: "a thief takes one goroutine instead of half the victim's queue",
        // 1/1000 is the smallest step (permille); rounded up it is one goroutine for
        // any ring up to 1000 slots.
        apply: |b| b.steal_fraction(0.001),
    },
    LabConfig {
        name: "no-steal",
        about: "steal_rounds 0: idle Ps never steal (only the global queue balances)",
        apply: |b| b.steal_rounds(0),
    },
    LabConfig {
        name: "rr-victims",
        about: "victims visited in index order from the thief's own index + 1",
        apply: |b| b.victim_order(VictimOrder::RoundRobin),
    },
    LabConfig {
        name: "global-every-tick",
        about: "global_queue_interval 1: the global queue is checked first on every tick",
        apply: |b| b.global_queue_interval(1),
    },
    LabConfig {
        name: "no-spin",
        about: "no spinning Ms: an M without work parks at once",
        apply: |b| b.spinning(SpinningLimit::AtMost(0)),
    },
    LabConfig {
        name: "slice-100us",
        about: "runnext chains inherit a 100 µs slice instead of 10 ms",
        apply: |b| b.time_slice(Duration::from_micros(100)),
    },
];

/// The configuration with this name.
pub fn by_name(name: &str) -> Option<&'static LabConfig> {
    ALL.iter().find(|c| c.name == name)
}

/// Names of all configurations, comma-separated, for error messages.
pub fn names() -> String {
    ALL.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_builds_a_valid_runtime_config() {
        for c in ALL {
            let b = c.apply(gort::Runtime::builder().procs(2).chaos(None));
            assert!(b.config().is_ok(), "{}: {:?}", c.name, b.config());
        }
        assert_eq!(ALL[0].name, BASELINE);
    }
}

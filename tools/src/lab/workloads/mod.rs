//! The workloads. Closed ones run a fixed amount of work inside `block_on` and are
//! timed by wall clock (or, under `--sim`, run in deterministic simulation and counted);
//! `server` is the open-loop generator of [`crate::lab::openloop`], which needs a plain
//! OS thread and the wall clock and so cannot be simulated.

pub mod parked;
pub mod pingpong;
pub mod skynet;
pub mod spawn;
pub mod threadring;
pub mod timers;

/// How big a closed workload is: `--quick` shrinks each so the whole matrix fits in a
/// minute on two cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// For `--quick` and tests.
    Quick,
    /// For real measurements.
    Full,
}

/// What a workload is.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Runs inside `block_on` and returns a checksum the lab verifies.
    Closed {
        /// The body.
        run: fn(Scale) -> u64,
        /// The checksum it must return.
        expect: fn(Scale) -> u64,
    },
    /// The open-loop server: a sweep of offered loads.
    OpenLoop,
}

/// A named workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Name on the command line and in the outputs.
    pub name: &'static str,
    /// One line on what it stresses.
    pub about: &'static str,
    /// Closed or open-loop.
    pub kind: Kind,
}

impl Workload {
    /// Whether it can run in deterministic simulation (`--sim`): closed workloads can;
    /// the open-loop server cannot (its dispatcher is a plain OS thread, its requests
    /// spin on the wall clock, and virtual time does not move while goroutines compute).
    pub fn simulable(&self) -> bool {
        matches!(self.kind, Kind::Closed { .. })
    }
}

/// Every workload.
pub const ALL: &[Workload] = &[
    Workload {
        name: "spawn",
        about: "one goroutine spawns N empty goroutines, then joins them all",
        kind: Kind::Closed {
            run: spawn::run,
            expect: spawn::expect,
        },
    },
    Workload {
        name: "skynet",
        about: "a tree of goroutines, fan-out 10, each leaf returns its number, sums go up",
        kind: Kind::Closed {
            run: skynet::run,
            expect: skynet::expect,
        },
    },
    Workload {
        name: "ping-pong",
        about: "two goroutines bounce a counter over unbuffered channels",
        kind: Kind::Closed {
            run: pingpong::run,
            expect: pingpong::expect,
        },
    },
    Workload {
        name: "threadring",
        about: "503 goroutines in a ring pass a token N hops",
        kind: Kind::Closed {
            run: threadring::run,
            expect: threadring::expect,
        },
    },
    Workload {
        name: "parked",
        about: "N goroutines park on one channel, then a close wakes them all",
        kind: Kind::Closed {
            run: parked::run,
            expect: parked::expect,
        },
    },
    Workload {
        name: "timers",
        about: "N goroutines sleep a random 0–999 µs R times each and report every wakeup \
                to one collector goroutine",
        kind: Kind::Closed {
            run: timers::run,
            expect: timers::expect,
        },
    },
    Workload {
        name: "server",
        about: "open loop: Poisson arrivals, one goroutine per request, sojourn p99 vs load",
        kind: Kind::OpenLoop,
    },
];

/// The workload with this name.
pub fn by_name(name: &str) -> Option<&'static Workload> {
    ALL.iter().find(|w| w.name == name)
}

/// Names of all workloads, comma-separated, for error messages.
pub fn names() -> String {
    ALL.iter().map(|w| w.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_workloads_return_their_checksums() {
        let rt = gort::Runtime::builder()
            .procs(2)
            .chaos(None)
            .stack_size(64 * 1024)
            .build()
            .unwrap();
        for w in ALL {
            if let Kind::Closed { run, expect } = w.kind {
                assert_eq!(
                    rt.block_on(move || run(Scale::Quick)),
                    expect(Scale::Quick),
                    "{}",
                    w.name
                );
            }
        }
    }
}

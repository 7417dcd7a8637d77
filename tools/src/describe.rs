//! How the tools write trace things as text: goroutines, sites, wakers, run ends,
//! durations. Shared so the JSON and the summary say the same thing the same way.

use std::fmt;

use gort::trace::{SiteId, Trace, Waker};

use crate::replay::{Cause, RunEnd};

/// A goroutine's name if it has one, else `g<id>`; displayed without allocating (the
/// JSON names millions of runs).
pub struct Goroutine<'t>(pub &'t Trace, pub u64);

impl fmt::Display for Goroutine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.name(self.1) {
            Some(name) => f.write_str(name),
            None => write!(f, "g{}", self.1),
        }
    }
}

/// A goroutine's name if it has one, else `g<id>`.
pub fn goroutine(t: &Trace, g: u64) -> String {
    Goroutine(t, g).to_string()
}

/// `file:line:col`, or `?` when the site is unknown.
pub fn site(t: &Trace, site: Option<SiteId>) -> String {
    match site.and_then(|s| t.site(s)) {
        Some(s) => s.to_string(),
        None => "?".to_string(),
    }
}

/// Who woke a goroutine: `g5`, `timer`, `netpoll`, `thread`.
pub struct Woken(pub Waker);

impl fmt::Display for Woken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Waker::Goroutine(g) => write!(f, "g{g}"),
            Waker::Thread => f.write_str("thread"),
            Waker::Timer => f.write_str("timer"),
            Waker::Netpoll => f.write_str("netpoll"),
        }
    }
}

/// Who woke a goroutine: `g5`, `timer`, `netpoll`, `thread`.
pub fn waker(by: Waker) -> String {
    Woken(by).to_string()
}

/// Why a goroutine became runnable: `spawn by g1`, `unpark by timer`, `yield`, ...
pub struct Became(pub Cause);

impl fmt::Display for Became {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Cause::Create { parent } => write!(f, "spawn by g{parent}"),
            Cause::Unpark { by, .. } => write!(f, "unpark by {}", Woken(by)),
            Cause::Yield => f.write_str("yield"),
            Cause::Preempted => f.write_str("preempted"),
            Cause::Requeue => f.write_str("requeue"),
        }
    }
}

/// How a run ended, in a word: `yield`, `preempted`, `park`, `done`, ...
pub fn end_kind(how: RunEnd) -> &'static str {
    match how {
        RunEnd::Yield => "yield",
        RunEnd::Preempted => "preempted",
        RunEnd::Park { .. } => "park",
        RunEnd::Done => "done",
        RunEnd::Requeue => "requeue",
        RunEnd::Lost => "lost (no end recorded)",
        RunEnd::TraceEnd => "running at trace end",
    }
}

/// How a run ended, with the wait reason and site of a park.
pub fn end(t: &Trace, how: RunEnd) -> String {
    match how {
        RunEnd::Park { reason, site: s } => {
            format!("park: {} at {}", reason.as_str(), site(t, s))
        }
        other => end_kind(other).to_string(),
    }
}

/// A duration in ns, in the unit that suits it: `850 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`.
pub fn duration(ns: u64) -> String {
    let ns_f = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns_f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", ns_f / 1e6)
    } else {
        format!("{:.2} s", ns_f / 1e9)
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_get_separators() {
        use super::count;
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn durations_pick_their_unit() {
        use super::duration;
        assert_eq!(duration(850), "850 ns");
        assert_eq!(duration(12_345), "12.3 µs");
        assert_eq!(duration(4_560_000), "4.56 ms");
        assert_eq!(duration(1_230_000_000), "1.23 s");
    }
}

//! Tiny architecture primitives for the gort scheduler.
//!
//! The scheduler needs two things from the CPU that the standard library does not give
//! cheaply:
//!
//! - [`spin_hint`]: tell the core we are busy-waiting (`pause` on x86-64), so a spinning
//!   M does not starve its hyper-thread sibling or burn power.
//! - [`ticks`]: a monotonic counter that costs a few nanoseconds (the TSC on x86-64),
//!   used for time slices and timestamps on hot paths where `Instant::now()` (a vDSO
//!   call, ~20 ns) is too dear. [`ticks_to_ns`] converts a tick delta to nanoseconds
//!   with a rate calibrated once per process against the OS clock.
//!
//! On architectures without a known cheap counter, ticks are nanoseconds from
//! `Instant`, so the conversion is the identity and callers need not care.
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Hint to the CPU that the caller is in a spin-wait loop.
#[inline(always)]
pub fn spin_hint() {
    core::hint::spin_loop();
}

/// Reads the cheap monotonic counter.
///
/// On x86-64 this is the time-stamp counter: constant-rate on every CPU of the last
/// fifteen years (`constant_tsc`), and synchronised across cores by the kernel, which is
/// all the scheduler relies on. It is not ordered with surrounding loads and stores;
/// callers use it for durations of microseconds and more, where that does not matter.
#[inline(always)]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no memory effects and is available on every x86-64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        fallback_ns()
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn fallback_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Ticks per microsecond, measured once (about 2 ms) on first use.
fn ticks_per_us() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        if cfg!(not(target_arch = "x86_64")) {
            return 1000.0;
        }
        let (t0, i0) = (ticks(), Instant::now());
        // Long enough that the two clocks' read jitter (~100 ns) is below 0.01 %.
        while i0.elapsed() < Duration::from_millis(2) {
            spin_hint();
        }
        let (t1, i1) = (ticks(), Instant::now());
        let us = (i1 - i0).as_secs_f64() * 1e6;
        ((t1 - t0) as f64 / us).max(1e-3)
    })
}

/// Converts a tick count (a difference of two [`ticks`] readings) to nanoseconds.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (ticks as f64 * 1000.0 / ticks_per_us()) as u64
}

/// Converts a duration to ticks (the inverse of [`ticks_to_ns`]), saturating.
pub fn duration_to_ticks(d: Duration) -> u64 {
    let t = d.as_secs_f64() * 1e6 * ticks_per_us();
    if t >= u64::MAX as f64 {
        u64::MAX
    } else {
        t as u64
    }
}

/// Forces the one-time calibration now, so it does not land inside a measurement.
pub fn calibrate() {
    let _ = ticks_per_us();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_monotonic_and_convert_to_elapsed_time() {
        calibrate();
        let (t0, i0) = (ticks(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (t1, i1) = (ticks(), Instant::now());
        assert!(t1 > t0);
        let measured = ticks_to_ns(t1 - t0) as f64;
        let real = (i1 - i0).as_nanos() as f64;
        assert!((measured / real - 1.0).abs() < 0.05, "{measured} vs {real}");
    }

    #[test]
    fn duration_round_trips_through_ticks() {
        let d = Duration::from_millis(10);
        let ns = ticks_to_ns(duration_to_ticks(d));
        assert!((ns as i64 - 10_000_000).abs() < 10_000, "{ns}");
    }
}

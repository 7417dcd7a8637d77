//! Time: sleeping goroutines (`gort::time`).
//!
//! A sleeping goroutine parks with a timer on its P (see `timer.rs`); the OS thread is
//! free for other goroutines meanwhile, and an idle runtime sleeps exactly until the
//! earliest timer. On a plain thread these functions sleep the thread.

use std::time::{Duration, Instant};

use crate::g::WaitReason;
use crate::waiter;

/// Puts the calling goroutine to sleep for at least `d`.
///
/// ```
/// gort::run(|| {
///     let t = std::time::Instant::now();
///     gort::time::sleep(std::time::Duration::from_millis(5));
///     assert!(t.elapsed() >= std::time::Duration::from_millis(5));
/// });
/// ```
pub fn sleep(d: Duration) {
    sleep_until(Instant::now() + d);
}

/// Puts the calling goroutine to sleep until `deadline` (returns at once if it passed).
pub fn sleep_until(deadline: Instant) {
    while Instant::now() < deadline {
        if waiter::park_until(deadline, WaitReason::Sleep) {
            break;
        }
    }
}

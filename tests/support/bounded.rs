//! Bounding a test's time: a lost wakeup shows up as a hang, and a hang should fail the
//! test with a message, not stall CI.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on its own thread and returns its result; fails the test if `f` takes
/// longer than `limit`, and re-raises `f`'s panic as the test's.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => resume_unwind(p),
        Err(_) => panic!("test did not finish within {limit:?}: a lost wakeup?"),
    }
}

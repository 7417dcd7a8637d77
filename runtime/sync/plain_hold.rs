//! Locks held by plain threads, counted for deadlock detection.
//!
//! A goroutine parked on a `gort::sync` lock that a plain thread holds is not
//! deadlocked: the thread will unlock it. The runtime cannot see plain threads, so every
//! guard taken on one counts itself here (process-wide: a lock is not tied to a runtime),
//! and `check_dead` declares nothing while the count is non-zero.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use crate::context;

static HELD_BY_PLAIN_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Part of every lock guard: counts the guard while a plain thread took it.
pub(crate) struct PlainHold(bool);

impl PlainHold {
    pub(crate) fn new() -> PlainHold {
        let plain = context::current_g().is_null();
        if plain {
            HELD_BY_PLAIN_THREADS.fetch_add(1, SeqCst);
        }
        PlainHold(plain)
    }
}

impl Drop for PlainHold {
    fn drop(&mut self) {
        if self.0 {
            HELD_BY_PLAIN_THREADS.fetch_sub(1, SeqCst);
        }
    }
}

/// Whether some plain thread holds a gort lock right now.
pub(crate) fn plain_threads_hold_locks() -> bool {
    HELD_BY_PLAIN_THREADS.load(SeqCst) != 0
}

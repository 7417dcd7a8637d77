//! Goroutine dumps ([`dump`]) and deadlock detection (Go's `checkdead`).
//!
//! A dump lists every live goroutine with its id, name, status (the wait reason when
//! parked) and spawn site, in Go's shape:
//!
//! ```text
//! goroutine 7 "worker" [chan receive]:
//!     spawned at src/main.rs:12:9
//! ```
//!
//! Deadlock: when the last M goes idle, every P is idle, no M spins, no goroutine is
//! queued anywhere and no timer is pending, then every live goroutine is parked and
//! nothing inside the runtime can wake one. gort cannot see which plain threads hold
//! handles (a channel end, a `Goroutine`) that might wake one later, so it only declares
//! a deadlock for runtimes that plain threads have not woken or spawned goroutines on
//! (the thread waiting in `block_on` does not count): once a plain thread has, detection
//! is off for that runtime. Nor while a plain thread holds a `gort::sync` lock (its
//! guards count themselves), and not at all once a plain thread has used a channel
//! (channels belong to no runtime). The remaining blind spot is a handle moved to a
//! plain thread that has not used it yet (a `Goroutine` or a `WaitGroup` it will wake
//! later); `Builder::deadlock_detection(false)` turns detection off.
//!
//! The report ("all goroutines are asleep - deadlock!" and the dump) ends the
//! `block_on`/`run` waiting for the main goroutine: `run` and `block_on` panic with it,
//! `try_block_on` returns it as [`RunError::Deadlock`].

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::*};

use crate::context;
use crate::g::WaitReason;
use crate::park::{ACTIVE, WAITING};
use crate::sched::{Locked, Sched};

/// Why `try_block_on` could not return the main goroutine's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// Every goroutine was parked and nothing could wake one. Holds the full report:
    /// the "all goroutines are asleep - deadlock!" line and a dump of each goroutine.
    Deadlock(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Deadlock(report) => f.write_str(report),
        }
    }
}

impl std::error::Error for RunError {}

/// Set once a plain thread has used any channel: channels are not tied to a runtime, so
/// from then on no runtime in the process can rule out a wakeup from outside.
static PLAIN_THREAD_CHANNEL_USE: AtomicBool = AtomicBool::new(false);

/// Called by every channel operation.
#[inline]
pub(crate) fn note_channel_use() {
    if !PLAIN_THREAD_CHANNEL_USE.load(Relaxed)
        && context::current_g().is_null()
        && !context::in_teardown()
    {
        PLAIN_THREAD_CHANNEL_USE.store(true, SeqCst);
    }
}

impl Sched {
    /// Lists every live goroutine.
    pub(crate) fn dump(&self) -> String {
        let mut out = String::new();
        let allgs = self.allgs.lock();
        for g in allgs.iter() {
            let status = match g.state.status() {
                WAITING => WaitReason::from_u8(g.wait_reason.load(Relaxed)).as_str(),
                ACTIVE => "runnable",
                _ => continue,
            };
            let (id, name, site) = g.info_snapshot();
            let _ = write!(out, "goroutine {id}");
            if let Some(name) = name {
                let _ = write!(out, " {name:?}");
            }
            let _ = writeln!(out, " [{status}]:\n    spawned at {site}");
        }
        out
    }

    /// Go's `checkdead`, run by an M that just went idle, with the scheduler lock held.
    /// Records and announces a deadlock if there is one.
    pub(crate) fn check_dead(&self, l: &Locked) {
        if !self.config.deadlock_detection
            || self.external_wakes.load(SeqCst) != 0
            || crate::sync::plain_threads_hold_locks()
            || PLAIN_THREAD_CHANNEL_USE.load(SeqCst)
            || l.idle_ps.len() != self.config.procs
            || self.nmspinning.load(SeqCst) != 0
            || self.global_len() != 0
            || self.earliest_timer() != u64::MAX
            || self.io_waiters()
            || l.polling
            || self.injecting.load(SeqCst) != 0
            || self.nsyscall.load(SeqCst) != 0
            || self.ps.iter().any(|p| !p.runq.is_empty())
            || self.live_goroutines() == 0
        {
            return;
        }
        let mut report = self.deadlock.lock();
        if report.is_some() {
            return;
        }
        *report = Some(format!(
            "all goroutines are asleep - deadlock!\n\n{}",
            self.dump()
        ));
        for t in self.blockers.lock().iter() {
            t.unpark();
        }
    }
}

/// Lists every live goroutine of the current runtime: id, name, status or wait reason,
/// spawn site.
///
/// # Panics
/// Outside a goroutine (use [`Runtime::dump`](crate::Runtime::dump) there).
pub fn dump() -> String {
    match context::current_sched() {
        Some(s) => s.dump(),
        None => panic!(
            "gort::dump() called outside a goroutine: call it inside gort::run or \
             Runtime::block_on, or use Runtime::dump()"
        ),
    }
}

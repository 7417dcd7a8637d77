//! What a policy sees when it places a goroutine: the Ps and their queue lengths.

use crate::sched::Sched;

/// A read-only view of the scheduler at a placement decision. Lengths are read without
/// locks, so they may be a moment stale.
pub struct View<'a> {
    sched: &'a Sched,
    current: Option<usize>,
}

impl<'a> View<'a> {
    #[inline(always)]
    pub(crate) fn new(sched: &'a Sched, current: Option<usize>) -> Self {
        View { sched, current }
    }

    /// The P making the decision (`None` on a thread without one).
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// The number of Ps.
    pub fn procs(&self) -> usize {
        self.sched.config.procs
    }

    /// Goroutines waiting in P `p`'s ring, `runnext` slot and inbox.
    pub fn queue_len(&self, p: usize) -> usize {
        let p = &self.sched.ps[p];
        p.runq.len() + p.inbox_len()
    }

    /// Whether P `p` is running a goroutine (or just finished one and has not gone
    /// idle yet).
    pub fn is_running(&self, p: usize) -> bool {
        !self.sched.ps[p]
            .status
            .curg
            .load(std::sync::atomic::Ordering::Relaxed)
            .is_null()
    }

    /// Goroutines in the global queue.
    pub fn global_len(&self) -> usize {
        self.sched.global_len()
    }

    /// The P with the shortest queue; ties go to the current P, then to the next ones in
    /// index order. (Counting a running goroutine as load too sends every wakeup of a
    /// ping-pong to the other P: 12× slower in the lab.)
    pub fn least_loaded(&self) -> usize {
        let n = self.procs();
        let start = self.current.unwrap_or(0);
        (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&p| self.queue_len(p))
            .unwrap_or(0)
    }
}

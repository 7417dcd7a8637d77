//! The scheduler's side of the netpoller (Go's `netpoll` calls in `proc.go`).
//!
//! `gort-netpoll` hands back opaque tokens; here a token is a strong reference to a
//! parked goroutine (`Arc::into_raw`), owned by whichever party takes it out of its
//! readiness slot. Three places poll:
//!
//! - `find_runnable`, without blocking, when its own queues and the global queue are
//!   empty and some goroutine waits for I/O (before stealing, as Go does);
//! - the *poll M*: the first M to go idle while goroutines wait for I/O blocks in
//!   `epoll_wait` (instead of on its condition variable) until readiness, the earliest
//!   timer, or a wake; only one M at a time (`Locked::polling`);
//! - sysmon, when nobody has polled for 10 ms (all Ps busy).
//!
//! Woken goroutines are injected: one per idle P into the global queue with an M
//! started for each, the rest into the caller's local queue (Go's `injectglist`).

use std::io;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::Duration;

use gort_netpoll::Poller;

use crate::g::{GRef, G};
use crate::metrics::add;
use crate::p::P;
use crate::sched::Sched;
use crate::timer;

/// A goroutine as a poller token (a strong reference, given up to the slot).
pub(crate) fn token_of(g: GRef) -> usize {
    Arc::into_raw(g) as usize
}

/// Takes back the strong reference a token stands for.
///
/// # Safety
/// `token` came from [`token_of`] and was taken out of its slot by the caller, so no
/// one else will convert it back.
pub(crate) unsafe fn g_of(token: usize) -> GRef {
    // SAFETY: per the contract, this is the single owner of that `into_raw` reference.
    unsafe { Arc::from_raw(token as *const G) }
}

impl Sched {
    /// This runtime's poller, created with the first socket.
    pub(crate) fn poller(&self) -> io::Result<&Arc<Poller>> {
        if let Some(p) = self.netpoll.get() {
            return Ok(p);
        }
        if let Some(seed) = self.config.simulate {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "gort: networking is not available in simulation (seed {seed}): \
                     real sockets would make the schedule depend on the outside world"
                ),
            ));
        }
        let _init = self.netpoll_init.lock();
        if let Some(p) = self.netpoll.get() {
            return Ok(p);
        }
        let p = Poller::new().map_err(|e| {
            io::Error::new(e.kind(), format!("gort: cannot create the netpoller: {e}"))
        })?;
        Ok(self.netpoll.get_or_init(|| Arc::new(p)))
    }

    /// Whether some goroutine is parked waiting for I/O.
    pub(crate) fn io_waiters(&self) -> bool {
        self.netpoll.get().is_some_and(|p| p.waiters() > 0)
    }

    /// Polls (up to `timeout`; `None` blocks) and returns the goroutines made runnable.
    pub(crate) fn netpoll(&self, timeout: Option<Duration>) -> Vec<GRef> {
        let Some(poller) = self.netpoll.get() else {
            return Vec::new();
        };
        let mut tokens = Vec::new();
        if let Err(e) = poller.poll(timeout, &mut tokens) {
            // Only EBADF/EINVAL/EFAULT remain after EINTR: a bug, not a condition.
            panic!("gort: epoll_wait failed: {e}");
        }
        self.last_poll.store(timer::now_ns(), Relaxed);
        let mut gs = Vec::with_capacity(tokens.len());
        for t in tokens {
            // SAFETY: the poller took `t` out of its slot and handed it to us alone.
            let g = unsafe { g_of(t) };
            if g.state.unpark() {
                if crate::trace::on(self) {
                    crate::trace::points::go_unpark_netpoll(self, &g);
                }
                // SAFETY: passing no P.
                unsafe { self.note_runnable(&g, None, true) };
                gs.push(g);
            }
        }
        add(&self.netpoll_woken, gs.len() as u64);
        if !gs.is_empty() && crate::trace::on(self) {
            let blocking = timeout != Some(Duration::ZERO);
            let k = crate::trace::kind::NETPOLL_WAKE;
            crate::trace::points::event(self, k, blocking as u8, None, gs.len() as u32);
        }
        gs
    }

    /// Go's `injectglist`: makes `gs` runnable, starting an M for each idle P, and puts
    /// the rest in `p`'s local queue (or the global queue without a P).
    ///
    /// # Safety
    /// The caller holds `p` when it passes one.
    pub(crate) unsafe fn inject(self: &Arc<Self>, mut gs: Vec<GRef>, p: Option<&P>) {
        if gs.is_empty() {
            return;
        }
        let Some(p) = p else {
            let n = gs.len();
            self.globrunqput_batch(gs);
            for _ in 0..n.min(self.npidle.load(SeqCst)) {
                let pid = self.lock.lock().pidleget(self);
                match pid {
                    Some(pid) => self.startm(pid, false),
                    None => break,
                }
            }
            return;
        };
        let idle = self.npidle.load(SeqCst).min(gs.len());
        if idle > 0 {
            let rest = gs.split_off(idle);
            self.globrunqput_batch(std::mem::replace(&mut gs, rest));
            for _ in 0..idle {
                let pid = self.lock.lock().pidleget(self);
                match pid {
                    Some(pid) => self.startm(pid, false),
                    None => break,
                }
            }
        }
        for g in gs {
            // SAFETY: the caller holds `p`.
            unsafe { self.runqput(p, g, false) };
        }
    }

    /// Breaks the poll M's wait (an earlier timer, or shutdown).
    pub(crate) fn wake_poller(&self) {
        if let Some(p) = self.netpoll.get() {
            p.wake();
        }
    }

    /// Releases the goroutine references still parked in the poller (shutdown).
    pub(crate) fn drain_poller(&self) -> Vec<GRef> {
        match self.netpoll.get() {
            // SAFETY: `drain_tokens` took each token out of its slot for us alone.
            Some(p) => p
                .drain_tokens()
                .into_iter()
                .map(|t| unsafe { g_of(t) })
                .collect(),
            None => Vec::new(),
        }
    }
}

//! `PollFd`: one socket's link to its runtime's netpoller, and the loop every socket
//! call runs: try the syscall; on `EAGAIN` park the goroutine on readiness; retry.
//!
//! A socket created on a goroutine is non-blocking and registered with that runtime's
//! poller. A socket created on a plain thread is an ordinary blocking socket and is not
//! registered; if it meets `EAGAIN` anyway (a clone made inside a runtime shares its
//! non-blocking flag), the calling thread waits in `poll(2)`. Either way, read and write
//! timeouts are deadlines kept here and end a wait with `ErrorKind::TimedOut`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort_netpoll::{Arm, Mode, Poller, Registration};

use crate::context::{self, Caller};
use crate::g::{Wait, WaitReason};
use crate::netpoll::{g_of, token_of};
use crate::waiter::{self, current_gref};

pub(crate) struct PollFd {
    fd: RawFd,
    reg: Option<(Arc<Poller>, Registration)>,
    /// Timeouts in nanoseconds (0: none), as `set_read_timeout` / `set_write_timeout`.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

impl PollFd {
    /// Registers `fd` with the calling goroutine's runtime, after making it
    /// non-blocking; on a plain thread, leaves it blocking and unregistered.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> io::Result<PollFd> {
        let reg = match context::current_sched() {
            Some(s) => {
                set_nonblocking(fd.as_raw_fd(), true)?;
                let poller = s.poller()?.clone();
                let reg = poller.register(fd)?;
                Some((poller, reg))
            }
            None => None,
        };
        Ok(PollFd {
            fd: fd.as_raw_fd(),
            reg,
            read_timeout: AtomicU64::new(0),
            write_timeout: AtomicU64::new(0),
        })
    }

    /// Whether the socket is driven by a netpoller (false: a plain blocking socket).
    pub(crate) fn is_registered(&self) -> bool {
        self.reg.is_some()
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for `mode` readiness in
    /// between, up to the timeout of `mode`. The wait site is the caller's.
    #[track_caller]
    pub(crate) fn io<T>(&self, mode: Mode, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        crate::preempt::checkpoint();
        let deadline = self.timeout(mode).map(|t| Instant::now() + t);
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(mode, deadline)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Waits once for `mode` readiness (or a spurious wake); `TimedOut` after `deadline`.
    #[track_caller]
    pub(crate) fn wait(&self, mode: Mode, deadline: Option<Instant>) -> io::Result<()> {
        self.wait_at(mode, deadline, Location::caller())
    }

    /// [`wait`](Self::wait) with an explicit wait site (one captured before a closure).
    pub(crate) fn wait_at(
        &self,
        mode: Mode,
        deadline: Option<Instant>,
        site: &'static Location<'static>,
    ) -> io::Result<()> {
        match (context::caller(), &self.reg) {
            (Caller::Goroutine(_), Some((poller, reg))) => {
                wait_goroutine(poller, reg, mode, deadline, site)
            }
            (Caller::Teardown, _) => Err(io::Error::other(
                "gort: the runtime is shutting down; socket calls no longer wait",
            )),
            _ => wait_thread(self.fd, mode, deadline),
        }
    }

    /// After `shutdown(2)` of `how`: wakes goroutines waiting on the closed directions,
    /// so they retry and see end of stream or an error.
    pub(crate) fn shut(&self, how: std::net::Shutdown) {
        if how != std::net::Shutdown::Write {
            self.kick(Mode::Read);
        }
        if how != std::net::Shutdown::Read {
            self.kick(Mode::Write);
        }
    }

    /// Wakes a goroutine waiting for `mode` (after `shutdown(2)`: it retries and sees
    /// end of stream or an error).
    pub(crate) fn kick(&self, mode: Mode) {
        if let Some((poller, reg)) = &self.reg {
            if let Some(t) = poller.kick(reg, mode) {
                // SAFETY: `kick` took the token out of its slot for us alone.
                waiter::unpark(&unsafe { g_of(t) });
            }
        }
    }

    pub(crate) fn set_timeout(&self, mode: Mode, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let ns = t.map_or(0, |t| t.as_nanos().clamp(1, u64::MAX as u128) as u64);
        self.slot(mode).store(ns, Relaxed);
        Ok(())
    }

    pub(crate) fn timeout(&self, mode: Mode) -> Option<Duration> {
        match self.slot(mode).load(Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    fn slot(&self, mode: Mode) -> &AtomicU64 {
        match mode {
            Mode::Read => &self.read_timeout,
            Mode::Write => &self.write_timeout,
        }
    }
}

impl Drop for PollFd {
    fn drop(&mut self) {
        if let Some((poller, reg)) = self.reg.take() {
            // SAFETY: the socket that owns `fd` drops after this PollFd (field order in
            // every socket type), so the fd is still open here.
            let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
            for t in poller.deregister(reg, fd) {
                // SAFETY: `deregister` took the token out of its slot for us alone.
                waiter::unpark(&unsafe { g_of(t) });
            }
        }
    }
}

/// Takes the token back if the poller has not (also on unwind, when a parked goroutine
/// is dropped at shutdown).
struct Disarm<'a> {
    poller: &'a Poller,
    reg: &'a Registration,
    mode: Mode,
    token: usize,
}

impl Disarm<'_> {
    /// True when the token was still in its slot (no readiness woke us).
    fn finish(self) -> bool {
        let me = std::mem::ManuallyDrop::new(self);
        me.take_back()
    }

    fn take_back(&self) -> bool {
        let ours = self.poller.disarm(self.reg, self.mode, self.token);
        if ours {
            // SAFETY: we took our own token back out of the slot.
            drop(unsafe { g_of(self.token) });
        }
        ours
    }
}

impl Drop for Disarm<'_> {
    fn drop(&mut self) {
        self.take_back();
    }
}

fn wait_goroutine(
    poller: &Poller,
    reg: &Registration,
    mode: Mode,
    deadline: Option<Instant>,
    site: &'static Location<'static>,
) -> io::Result<()> {
    let wait = Wait::at(
        match mode {
            Mode::Read => WaitReason::IoRead,
            Mode::Write => WaitReason::IoWrite,
        },
        site,
    );
    let token = token_of(current_gref().expect("called on a goroutine"));
    match poller.arm(reg, mode, token) {
        Arm::Parked => {}
        other => {
            // SAFETY: the token never entered the slot: it is still ours.
            drop(unsafe { g_of(token) });
            return match other {
                Arm::Closed => Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "gort: socket closed while a goroutine waited on it",
                )),
                // Another goroutine waits on the same side: let it go first (a short
                // sleep, shown in dumps as this I/O wait at the caller's site).
                Arm::Busy => {
                    let until = Instant::now() + Duration::from_micros(50);
                    while Instant::now() < until && !waiter::park_until(until, wait) {}
                    Ok(())
                }
                _ => Ok(()),
            };
        }
    }
    let guard = Disarm {
        poller,
        reg,
        mode,
        token,
    };
    let timed_out = match deadline {
        Some(d) => waiter::park_until(d, wait),
        None => {
            waiter::park_current(wait);
            false
        }
    };
    if guard.finish() && timed_out {
        return Err(timed_out_error());
    }
    Ok(())
}

/// A plain thread (or an M outside a goroutine) waits in `poll(2)`.
fn wait_thread(fd: RawFd, mode: Mode, deadline: Option<Instant>) -> io::Result<()> {
    let ms = match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out_error());
            }
            left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
        }
    };
    let mut pfd = libc::pollfd {
        fd,
        events: match mode {
            Mode::Read => libc::POLLIN | libc::POLLRDHUP,
            Mode::Write => libc::POLLOUT,
        },
        revents: 0,
    };
    // SAFETY: one valid pollfd, alive for the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n == 0 {
        return Err(timed_out_error());
    }
    Ok(()) // readiness, EINTR or an error condition: the caller retries the syscall
}

fn timed_out_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "gort: socket operation timed out")
}

pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    let mut v: libc::c_int = on.into();
    // SAFETY: FIONBIO reads one c_int from a live local.
    if unsafe { libc::ioctl(fd, libc::FIONBIO, &mut v) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The timeout, clone and error accessors every connected socket type shares (`$t` has
/// `fd: PollFd` and a std `inner` with the same methods).
macro_rules! socket_options {
    ($t:ident) => {
        impl $t {
            /// A second handle on the same socket, registered separately, with the same
            /// timeouts.
            pub fn try_clone(&self) -> std::io::Result<$t> {
                let s = $t::from_std(self.inner.try_clone()?)?;
                s.set_read_timeout(self.read_timeout()?)?;
                s.set_write_timeout(self.write_timeout()?)?;
                Ok(s)
            }

            /// Sets the read timeout: a read that waits longer fails with `TimedOut`.
            /// `Some(Duration::ZERO)` is an `InvalidInput` error, as in std.
            pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
                self.fd.set_timeout(gort_netpoll::Mode::Read, t)?;
                if !self.fd.is_registered() {
                    self.inner.set_read_timeout(t)?;
                }
                Ok(())
            }

            /// Sets the write timeout: a write that waits longer fails with `TimedOut`.
            pub fn set_write_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
                self.fd.set_timeout(gort_netpoll::Mode::Write, t)?;
                if !self.fd.is_registered() {
                    self.inner.set_write_timeout(t)?;
                }
                Ok(())
            }

            /// The read timeout.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.fd.timeout(gort_netpoll::Mode::Read))
            }

            /// The write timeout.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.fd.timeout(gort_netpoll::Mode::Write))
            }

            /// Takes the pending socket error (`SO_ERROR`).
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.inner.take_error()
            }
        }
    };
}
pub(crate) use socket_options;

/// `Read::read_exact` that keeps the caller's location for dumps and traces (std's
/// default method is not `#[track_caller]`, so the wait site would be inside std).
#[track_caller]
pub(crate) fn read_exact<R: io::Read + ?Sized>(r: &mut R, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match r.read(buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "failed to fill whole buffer",
                ))
            }
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `Write::write_all`, keeping the caller's location (see [`read_exact`]).
#[track_caller]
pub(crate) fn write_all<W: io::Write + ?Sized>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "failed to write whole buffer",
                ))
            }
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

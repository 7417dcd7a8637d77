//! The epoll instance, its eventfd, and the poll loop (Go's `netpoll_epoll.go`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering::{AcqRel, Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use crate::slot::{Arm, Mode};
use crate::table::{Desc, Table};

/// The epoll data word of the eventfd (descriptor data words are `seq << 32 | index`
/// with index < 2^20, so this one can never collide).
const WAKE_KEY: u64 = u64::MAX;
/// Events taken per `epoll_wait`.
const BATCH: usize = 128;

/// One registered descriptor: an index into the poller's table and the sequence number
/// of this use of it. Deregister it before closing the fd.
#[derive(Debug)]
pub struct Registration {
    idx: u32,
    seq: u32,
}

/// An epoll instance with a wake-up eventfd and the readiness table of its descriptors.
pub struct Poller {
    epfd: OwnedFd,
    wakefd: OwnedFd,
    table: Table,
    /// Tokens currently in slots (Go's `netpollWaiters`): zero means nobody needs polling.
    waiters: AtomicUsize,
    /// A wake is written and not yet consumed: further wakes are free (Go's
    /// `netpollWakeSig`).
    wake_pending: AtomicBool,
}

impl Poller {
    /// Creates the epoll instance and its eventfd (two file descriptors).
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain syscall; the result is checked before use.
        let ep = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `ep` is a fresh fd that nothing else owns.
        let epfd = unsafe { OwnedFd::from_raw_fd(ep) };
        // SAFETY: plain syscall; the result is checked before use.
        let ev = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `ev` is a fresh fd that nothing else owns.
        let wakefd = unsafe { OwnedFd::from_raw_fd(ev) };
        // Level-triggered: a wake stays visible until a blocking poll drains it, so a
        // non-blocking poll that sees it first cannot take it away (see `poll`).
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_KEY,
        };
        // SAFETY: both fds are open; `event` outlives the call.
        cvt(unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, ev, &mut event) })?;
        Ok(Poller {
            epfd,
            wakefd,
            table: Table::new(),
            waiters: AtomicUsize::new(0),
            wake_pending: AtomicBool::new(false),
        })
    }

    /// Registers `fd` once, for read, write and peer-hangup readiness, edge-triggered.
    /// The fd should be non-blocking; deregister it before closing it.
    pub fn register(&self, fd: BorrowedFd<'_>) -> io::Result<Registration> {
        let (idx, seq) = self
            .table
            .alloc()
            .ok_or_else(|| io::Error::other("gort-netpoll: descriptor table is full"))?;
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: (u64::from(seq) << 32) | u64::from(idx),
        };
        // SAFETY: both fds are open (the caller borrows `fd`); `event` outlives the call.
        let r = unsafe {
            libc::epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut event,
            )
        };
        if let Err(e) = cvt(r) {
            self.table.release(idx);
            return Err(e);
        }
        Ok(Registration { idx, seq })
    }

    /// Removes `fd` from the epoll set and frees its descriptor. Returns the tokens of
    /// waiters still parked on it: the caller wakes them, and they see [`Arm::Closed`]
    /// or fail their next operation.
    pub fn deregister(&self, reg: Registration, fd: BorrowedFd<'_>) -> Vec<usize> {
        let d = self.desc(&reg);
        d.closing.store(true, SeqCst);
        // SAFETY: `fd` is open (borrowed); a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                std::ptr::null_mut(),
            )
        };
        let tokens: Vec<usize> = [d.read.clear(), d.write.clear()]
            .into_iter()
            .flatten()
            .collect();
        self.waiters.fetch_sub(tokens.len(), SeqCst);
        self.table.release(reg.idx);
        tokens
    }

    /// Consumes readiness of `mode`, or parks `token` (nonzero, even) in its slot.
    pub fn arm(&self, reg: &Registration, mode: Mode, token: usize) -> Arm {
        let d = self.desc(reg);
        if d.closing.load(SeqCst) {
            return Arm::Closed;
        }
        let r = slot(d, mode).arm(token);
        if r == Arm::Parked {
            // SeqCst: ordered before the scheduler's `waiters()` check on its way to
            // sleep, so either it sees this waiter and polls, or our M sees its sleep.
            self.waiters.fetch_add(1, SeqCst);
            if d.closing.load(SeqCst) && self.disarm(reg, mode, token) {
                return Arm::Closed;
            }
        }
        r
    }

    /// Takes `token` back out of its slot; false when `poll` or `deregister` took it
    /// first (and so owns it).
    pub fn disarm(&self, reg: &Registration, mode: Mode, token: usize) -> bool {
        let taken = slot(self.desc(reg), mode).disarm(token);
        if taken {
            self.waiters.fetch_sub(1, SeqCst);
        }
        taken
    }

    /// Records readiness of `mode` as if an event had arrived, and returns the token of
    /// a waiter it displaced (after `shutdown(2)`, to wake a goroutine blocked on it).
    pub fn kick(&self, reg: &Registration, mode: Mode) -> Option<usize> {
        let t = slot(self.desc(reg), mode).set_ready();
        if t.is_some() {
            self.waiters.fetch_sub(1, SeqCst);
        }
        t
    }

    /// Whether the descriptor is being closed.
    pub fn is_closing(&self, reg: &Registration) -> bool {
        self.desc(reg).closing.load(SeqCst)
    }

    /// Tokens parked in slots now.
    pub fn waiters(&self) -> usize {
        self.waiters.load(SeqCst)
    }

    /// Waits for readiness up to `timeout` (`None`: until an event or [`wake`](Self::wake);
    /// zero: just look), appends the tokens of woken waiters to `out`, and returns how
    /// many it appended.
    pub fn poll(&self, timeout: Option<Duration>, out: &mut Vec<usize>) -> io::Result<usize> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        let n = self.wait(&mut events, timeout)?;
        let before = out.len();
        for ev in &events[..n] {
            let (bits, key) = (ev.events, ev.u64);
            if key == WAKE_KEY {
                // Only a blocking poll consumes a wake (as Go's netpoll does): it is meant
                // for the M sleeping in the poller, which a look-only poll on another M
                // must not leave asleep (shutdown would wait for it forever).
                if timeout != Some(Duration::ZERO) {
                    self.drain_wakefd();
                }
                continue;
            }
            let (idx, seq) = (key as u32, (key >> 32) as u32);
            let Some(d) = self.table.get(idx) else {
                continue;
            };
            if d.seq.load(Relaxed) != seq {
                continue; // the fd this event was for has been closed
            }
            let hup = (libc::EPOLLHUP | libc::EPOLLERR) as u32;
            if bits & ((libc::EPOLLIN | libc::EPOLLRDHUP) as u32 | hup) != 0 {
                out.extend(d.read.set_ready());
            }
            if bits & (libc::EPOLLOUT as u32 | hup) != 0 {
                out.extend(d.write.set_ready());
            }
        }
        let woken = out.len() - before;
        self.waiters.fetch_sub(woken, SeqCst);
        Ok(woken)
    }

    /// Breaks a blocking [`poll`](Self::poll) (or the next one, if none is running).
    pub fn wake(&self) {
        if self.wake_pending.swap(true, AcqRel) {
            return;
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. EAGAIN (counter
        // full) still leaves it readable, which is all we need.
        unsafe {
            libc::write(
                self.wakefd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Takes every token still parked (shutdown: the runtime releases what they stand for).
    pub fn drain_tokens(&self) -> Vec<usize> {
        // The free list is ours to walk only for bounds: scan every allocated index.
        let mut out = Vec::new();
        let mut idx = 0u32;
        while let Some(d) = self.table.get(idx) {
            out.extend(d.read.clear());
            out.extend(d.write.clear());
            idx += 1;
        }
        self.waiters.fetch_sub(out.len(), SeqCst);
        out
    }

    fn desc(&self, reg: &Registration) -> &Desc {
        let d = self.table.get(reg.idx).expect("registered descriptor");
        debug_assert_eq!(d.seq.load(Relaxed), reg.seq, "registration outlived its fd");
        d
    }

    fn wait(
        &self,
        events: &mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        // Known missing (kernel < 5.11, valgrind): do not ask the kernel again each time.
        static NO_PWAIT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if NO_PWAIT2.load(Relaxed) {
            return self.wait_ms(events, timeout);
        }
        loop {
            // SAFETY: `events` is a writable buffer of `len` entries; `tsp` is null or
            // points to a live timespec.
            let n = unsafe {
                libc::epoll_pwait2(
                    self.epfd.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as libc::c_int,
                    tsp,
                    std::ptr::null(),
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => {
                    if timeout.is_some() {
                        return Ok(0); // a short, spurious return: callers re-check
                    }
                }
                Some(libc::ENOSYS) => {
                    NO_PWAIT2.store(true, Relaxed);
                    return self.wait_ms(events, timeout);
                }
                _ => return Err(e),
            }
        }
    }

    /// `epoll_wait` with the timeout rounded up to whole milliseconds (kernels < 5.11).
    fn wait_ms(
        &self,
        events: &mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let ms = timeout.map_or(-1, |t| {
            t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
        });
        // SAFETY: as in `wait`.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                ms,
            )
        };
        match cvt(n) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn drain_wakefd(&self) {
        let mut buf: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd.
        unsafe {
            libc::read(
                self.wakefd.as_raw_fd(),
                (&mut buf as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        self.wake_pending.store(false, SeqCst);
    }
}

fn slot(d: &Desc, mode: Mode) -> &crate::slot::Slot {
    match mode {
        Mode::Read => &d.read,
        Mode::Write => &d.write,
    }
}

fn cvt(r: RawFd) -> io::Result<RawFd> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    #[test]
    fn a_parked_reader_is_handed_back_on_data() {
        let p = Poller::new().unwrap();
        let (mut a, mut b) = pair();
        let reg = p.register(a.as_fd()).unwrap();
        // Registration reports the socket writable, never readable.
        let mut out = Vec::new();
        p.poll(Some(Duration::ZERO), &mut out).unwrap();
        assert!(out.is_empty());
        let mut buf = [0u8; 8];
        assert_eq!(
            a.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(p.arm(&reg, Mode::Read, 0x40), Arm::Parked);
        assert_eq!(p.waiters(), 1);
        b.write_all(b"hi").unwrap();
        p.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
        assert_eq!(out, vec![0x40]);
        assert_eq!(p.waiters(), 0);
        assert!(!p.disarm(&reg, Mode::Read, 0x40));
        assert_eq!(a.read(&mut buf).unwrap(), 2);
        assert!(p.deregister(reg, a.as_fd()).is_empty());
    }

    #[test]
    fn an_edge_before_arming_is_not_lost() {
        let p = Poller::new().unwrap();
        let (a, mut b) = pair();
        let reg = p.register(a.as_fd()).unwrap();
        b.write_all(b"x").unwrap();
        let mut out = Vec::new();
        p.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(p.arm(&reg, Mode::Read, 0x40), Arm::Ready);
        assert_eq!(p.arm(&reg, Mode::Write, 0x40), Arm::Ready);
        p.deregister(reg, a.as_fd());
    }

    #[test]
    fn deregister_returns_parked_tokens_and_stale_events_are_dropped() {
        let p = Poller::new().unwrap();
        let (a, mut b) = pair();
        let reg = p.register(a.as_fd()).unwrap();
        let mut out = Vec::new();
        p.poll(Some(Duration::ZERO), &mut out).unwrap();
        assert_eq!(p.arm(&reg, Mode::Read, 0x80), Arm::Parked);
        let dup = a.try_clone().unwrap(); // keeps the file description open
        assert_eq!(p.deregister(reg, a.as_fd()), vec![0x80]);
        assert_eq!(p.waiters(), 0);
        drop(a);
        // A new registration reuses the index with a new sequence number.
        let (c, _d) = pair();
        let reg2 = p.register(c.as_fd()).unwrap();
        b.write_all(b"x").unwrap();
        p.poll(Some(Duration::from_millis(50)), &mut out).unwrap();
        assert!(out.is_empty());
        drop(dup);
        p.deregister(reg2, c.as_fd());
    }

    #[test]
    fn wake_breaks_a_blocking_poll() {
        let p = std::sync::Arc::new(Poller::new().unwrap());
        let q = p.clone();
        let t = std::thread::spawn(move || {
            let mut out = Vec::new();
            q.poll(None, &mut out).unwrap();
            out
        });
        p.wake();
        assert!(t.join().unwrap().is_empty());
        p.wake();
        p.wake(); // coalesced
        let mut out = Vec::new();
        p.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
        assert!(!p.wake_pending.load(SeqCst));
    }

    #[test]
    fn a_look_only_poll_leaves_the_wake_for_the_blocking_one() {
        let p = Poller::new().unwrap();
        p.wake();
        let mut out = Vec::new();
        p.poll(Some(Duration::ZERO), &mut out).unwrap();
        assert!(
            p.wake_pending.load(SeqCst),
            "still pending after a zero-timeout poll"
        );
        let t = std::time::Instant::now();
        p.poll(Some(Duration::from_secs(10)), &mut out).unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the wake broke the blocking poll"
        );
        assert!(!p.wake_pending.load(SeqCst));
    }
}

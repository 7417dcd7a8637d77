//! Goroutine dumps on SIGQUIT (Go's `kill -QUIT` traceback), for runtimes built with
//! `Builder::sigquit_dump(true)` or `GORT_SIGQUIT=dump`.
//!
//! ```text
//!   any thread                      gort-sigquit thread (one per process)
//!   ----------                      ------------------------------------
//!   SIGQUIT -> on_sigquit():        loop { read(pipe) }   <- blocked
//!     write(pipe, 1 byte) ──────────> wakes: for each live registered runtime,
//!                                     Sched::dump() -> stderr
//! ```
//!
//! The handler does nothing but `write(2)` one byte to a self-pipe (async-signal-safe,
//! errno saved and restored; a full pipe drops the byte, and the dump it would have
//! asked for is already pending). Everything else (locks, allocation, formatting) runs
//! on an ordinary thread, started with the pipe when the first such runtime is built.
//!
//! The registry holds weak references to the runtimes that asked for dumps; a dropped
//! runtime leaves by itself. While one is registered, gort's handler *replaces* the
//! SIGQUIT action (by default: end the process with a core dump). When a SIGQUIT finds
//! no live registered runtime, the thread puts back the action that was there before
//! and raises the signal again, so it means what it used to (a later runtime with the
//! setting installs the handler again). Nothing else is restored or chained.

use std::io::{self, Write};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering::*};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::sched::Sched;

/// Runtimes that want dumps, and the SIGQUIT action ours replaced (`Some` while ours
/// is installed).
struct Registry {
    runtimes: Vec<Weak<Sched>>,
    previous: Option<libc::sigaction>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    runtimes: Vec::new(),
    previous: None,
});

/// The self-pipe's write end (non-blocking), -1 until the thread runs. Written once,
/// before the handler is first installed; the handler only reads it.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// Printed after the last runtime's dump, so a reader knows the dump is complete.
const END_MARKER: &str = "gort: SIGQUIT: end of goroutine dump";

/// Adds a runtime to the dump list; starts the thread and installs the handler if
/// needed. Called when a runtime with `sigquit_dump` is built.
pub(crate) fn register(sched: &Arc<Sched>) -> io::Result<()> {
    let mut r = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if WAKE_FD.load(Acquire) < 0 {
        start_thread()?;
    }
    r.runtimes.retain(|w| w.strong_count() > 0);
    r.runtimes.push(Arc::downgrade(sched));
    if r.previous.is_none() {
        r.previous = Some(install()?);
    }
    Ok(())
}

/// Creates the self-pipe and the thread that reads it. Under the registry lock.
fn start_thread() -> io::Result<()> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    // SAFETY: F_SETFL on the descriptor we just created. Non-blocking, so the handler
    // never blocks on a full pipe.
    let ok = unsafe { libc::fcntl(write_end, libc::F_SETFL, libc::O_NONBLOCK) } == 0;
    let spawned = if ok {
        std::thread::Builder::new()
            .name("gort-sigquit".into())
            .spawn(move || watch(read_end))
            .map(drop)
    } else {
        Err(io::Error::last_os_error())
    };
    if let Err(e) = spawned {
        // SAFETY: closing the two descriptors we created; nothing else knows them.
        unsafe {
            libc::close(read_end);
            libc::close(write_end);
        }
        return Err(e);
    }
    WAKE_FD.store(write_end, Release);
    Ok(())
}

/// Installs [`on_sigquit`]; returns the action it replaced.
fn install() -> io::Result<libc::sigaction> {
    // SAFETY: a zeroed sigaction filled with our handler, an empty mask and flags; the
    // handler is async-signal-safe (it only calls write(2) and touches errno).
    // SA_ONSTACK: it may interrupt a goroutine near the end of a small stack, and every
    // M has an alternate signal stack.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_sigquit as *const () as usize;
        act.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut act.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGQUIT, &act, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(old)
    }
}

extern "C" fn on_sigquit(_sig: libc::c_int) {
    let fd = WAKE_FD.load(Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: write(2) is async-signal-safe and reads one byte of a live local; errno
    // is this thread's, saved and restored so the interrupted code does not see ours.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        let byte = 1u8;
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *errno = saved;
    }
}

/// The thread: one dump round per wakeup (signals that arrive meanwhile coalesce).
fn watch(read_end: RawFd) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reading into a live local buffer of the given length.
        let n = unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            on_signal();
        } else if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        } else {
            return; // cannot happen: the write end is never closed
        }
    }
}

fn on_signal() {
    let live: Vec<Arc<Sched>> = {
        let mut r = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        r.runtimes.retain(|w| w.strong_count() > 0);
        let live: Vec<Arc<Sched>> = r
            .runtimes
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| !s.shutdown.load(SeqCst))
            .collect();
        if live.is_empty() {
            // Nobody wants the dump any more: give SIGQUIT its old meaning and deliver
            // it again (by default this ends the process with a core dump).
            if let Some(old) = r.previous.take() {
                // SAFETY: reinstating the action that was installed before ours.
                unsafe { libc::sigaction(libc::SIGQUIT, &old, std::ptr::null_mut()) };
                drop(r);
                // SAFETY: raise is safe to call from any thread.
                unsafe { libc::raise(libc::SIGQUIT) };
            }
            return;
        }
        live
    };
    let mut out = String::new();
    let n = live.len();
    for (i, s) in live.iter().enumerate() {
        out.push_str(&format!(
            "gort: SIGQUIT: goroutine dump of runtime {} of {n} (procs {}, live goroutines {})\n\n",
            i + 1,
            s.config.procs,
            s.live_goroutines(),
        ));
        out.push_str(&s.dump());
        out.push('\n');
    }
    out.push_str(END_MARKER);
    out.push('\n');
    drop(live);
    let _ = io::stderr().lock().write_all(out.as_bytes());
}

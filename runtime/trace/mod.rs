//! Execution traces: every scheduling decision, recorded cheaply, read back as events.
//!
//! Start a trace with `GORT_TRACE=<file>`, [`Builder::trace`](crate::Builder::trace),
//! or [`start`] from inside a runtime; it runs until [`stop`] or until the runtime
//! shuts down. Each M appends fixed-size binary records (16–40 bytes) to its own buffer
//! with no lock and no allocation; full 64 KiB buffers go to a writer thread, so a long
//! run does not fill memory. With tracing off, each trace point is one load and one
//! predictable branch.
//!
//! Events: goroutine create (parent, name, spawn site), run start and stop (yield,
//! preemption, park with wait reason and site, end, requeue), unpark (by which
//! goroutine, or by the netpoller, a timer or a plain thread), preempt requests and hog
//! reports, steals (victim, count), global-queue pulls, run-queue overflows, netpoll
//! wakes, timer fires, `blocking` enter and exit, P handoffs, M start/park/wake and P
//! idle/busy. Timestamps come from the cycle counter of `gort-asm`, converted to ns.
//!
//! [`Trace::read`] reads a file back ([`format`](self) is defined next to its writer,
//! here); the `gort-trace` tool turns it into Chrome trace JSON for Perfetto or
//! speedscope, and into a text summary.
//!
//! ```no_run
//! gort::run(|| {
//!     gort::trace::start("/tmp/app.trace").unwrap();
//!     // ... the part of the program to look at ...
//!     let stats = gort::trace::stop().unwrap();
//!     println!("{} events, {} bytes", stats.events, stats.bytes);
//! });
//! let trace = gort::trace::Trace::read("/tmp/app.trace").unwrap();
//! assert!(!trace.events.is_empty());
//! ```

mod format;
pub(crate) mod points;
pub(crate) mod recorder;
mod seqbuf;
mod writer;

use crate::loom::Ordering::{Relaxed, SeqCst};
use std::io;
use std::path::{Path, PathBuf};

pub(crate) use format::kind;
pub use format::{BlockingExit, Event, EventKind, Site, SiteId, Trace, Waker};
pub use writer::TraceStats;

use crate::context;
use crate::sched::Sched;

/// Whether `s` records a trace: the check every trace point makes first.
#[inline(always)]
pub(crate) fn on(s: &Sched) -> bool {
    s.trace.on.load(Relaxed)
}

/// The running trace of a runtime.
pub(crate) struct Session {
    path: PathBuf,
    writer: std::thread::JoinHandle<io::Result<TraceStats>>,
}

/// Starts recording a trace of the calling goroutine's runtime into `path` (created or
/// truncated).
///
/// # Errors
/// Outside a runtime; when this runtime already records a trace (`AlreadyExists`);
/// when the file cannot be created.
pub fn start(path: impl AsRef<Path>) -> io::Result<()> {
    start_on(&*current()?, path.as_ref())
}

/// Stops the trace of the calling goroutine's runtime and finishes its file.
///
/// # Errors
/// Outside a runtime; when no trace is being recorded (`NotFound`); when writing the
/// file failed (the first write error).
pub fn stop() -> io::Result<TraceStats> {
    stop_on(&*current()?)
}

/// Whether the calling goroutine's runtime records a trace.
pub fn is_recording() -> bool {
    context::current_sched().is_some_and(|s| on(&s))
}

fn current() -> io::Result<std::sync::Arc<Sched>> {
    context::current_sched().ok_or_else(|| {
        io::Error::other("gort::trace: called outside a gort runtime (no goroutine or M here)")
    })
}

pub(crate) fn start_on(s: &Sched, path: &Path) -> io::Result<()> {
    let mut session = s.trace.session.lock();
    if let Some(running) = &*session {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "gort::trace: already recording to {}",
                running.path.display()
            ),
        ));
    }
    let file = std::fs::File::create(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("gort::trace: cannot create {}: {e}", path.display()),
        )
    })?;
    // A simulation's trace is on virtual time from its fixed start (`sim/`).
    let virtual_start = s.config.simulate.map(|_| crate::sim::virtual_start(s));
    let w = writer::Writer::new(file, s.config.procs, virtual_start)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let pool = s.trace.pool.clone();
    let handle = std::thread::Builder::new()
        .name("gort-trace-writer".into())
        .spawn(move || writer::run(w, rx, pool))?;
    *s.trace.tx.lock() = Some(tx);
    *session = Some(Session {
        path: path.to_owned(),
        writer: handle,
    });
    s.trace.on.store(true, SeqCst);
    // A goroutine that starts the trace is running: say so, so its run has a start.
    let ctx = context::current();
    if !ctx.is_null() {
        // SAFETY: a non-null current() is this M's live context.
        let ctx = unsafe { &*ctx };
        let (g, p) = (ctx.curg.get(), ctx.p.get());
        if std::ptr::eq(&*ctx.sched, s) && !g.is_null() {
            if let Some(p) = p {
                // SAFETY: the running goroutine is alive while it runs this.
                points::go_start(ctx, unsafe { &*g }, p, false);
            }
        }
    }
    Ok(())
}

pub(crate) fn stop_on(s: &Sched) -> io::Result<TraceStats> {
    let mut session = s.trace.session.lock();
    let Some(running) = session.take() else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "gort::trace: no trace is being recorded",
        ));
    };
    s.trace.on.store(false, SeqCst);
    for chunk in s.trace.collect() {
        s.trace.send(chunk);
    }
    drop(s.trace.tx.lock().take()); // the writer finishes once its queue is empty
    running
        .writer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("gort::trace: the writer thread panicked")))
}

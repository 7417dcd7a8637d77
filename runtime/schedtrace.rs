//! Go's `schedtrace` and `scheddetail` (`GODEBUG=schedtrace=<ms>,scheddetail=1`): a
//! summary of the scheduler printed to stderr by sysmon every period
//! ([`Builder::schedtrace`](crate::Builder::schedtrace), `GORT_SCHEDTRACE=<ms>`).
//!
//! ```text
//! SCHED 1004ms: gomaxprocs=2 idleprocs=0 threads=5 spinningthreads=1 needspinning=0 idlethreads=2 runqueue=3 [12 0]
//! ```
//!
//! | field | gort's value | Go's |
//! |---|---|---|
//! | `SCHED <n>ms` | time since sysmon started, i.e. since the runtime started its first M (with its first goroutine) | since the runtime was initialised |
//! | `gomaxprocs` | `procs` | `GOMAXPROCS` |
//! | `idleprocs` | Ps in the idle list (`npidle`) | same |
//! | `threads` | live Ms **plus sysmon** (so [`Metrics::threads`](crate::Metrics::threads) + 1) | `mcount()`, which counts sysmon's M too |
//! | `spinningthreads` | Ms spinning for work (`nmspinning`) | same |
//! | `needspinning` | always `0`: gort has no such flag (see below) | an M found work but no idle P for it |
//! | `idlethreads` | Ms parked in the idle list | `nmidle` |
//! | `runqueue` | goroutines in the global run queue | same |
//! | `[a b ..]` | each P's local run queue, `runnext` included | ring only (`runqtail - runqhead`) |
//!
//! Go's `needspinning` (1.21) is set when an M found work but no idle P to run it on,
//! so that the next M about to give up its P starts spinning instead. gort has no such
//! flag, so the field is always `0`; it is kept so that tools written for Go's lines parse
//! gort's.
//!
//! The first line is printed at sysmon's first tick (`SCHED 0ms`, as Go's), then one per
//! period on a fixed grid: a line that comes late (sysmon descheduled) does not shift the
//! later ones, and periods missed entirely are skipped. Sysmon caps its sleep at the time
//! to the next line, so an idle runtime keeps printing on time. Several runtimes in one
//! process each print their own lines.
//!
//! # `scheddetail`
//!
//! With [`Builder::scheddetail`](crate::Builder::scheddetail) (`GORT_SCHEDDETAIL=1`), the
//! SCHED line (kept as is, bracket included; Go's detailed header drops the bracket and
//! adds GC fields gort has no use for) is followed by one line per P, per M and per
//! goroutine, in Go's order:
//!
//! ```text
//!   P0: status=1 schedtick=5012 syscalltick=3 curg=17 runqsize=4 timerslen=1
//!   M3: p=-1 curg=-1 spinning=false blocked=true idle=true timer=true
//!   M*: notidle=2 holdingp=2 polling=0 inblocking=0
//!   G17: status=2() p=0 name="worker"
//!   G18: status=4(chan receive) p=-1
//! ```
//!
//! - **P lines**: `status` uses Go's numbers: 0 idle (in the idle list), 1 running (held
//!   by an M, which runs a goroutine or looks for one), 2 syscall (its M is inside
//!   [`blocking`](crate::blocking()) and has not lost it yet). `schedtick` is the P's
//!   context-switch counter ([`ProcMetrics::switches`](crate::ProcMetrics::switches)),
//!   `syscalltick` the number of `blocking` calls made on it (the sequence of its
//!   syscall word), `runqsize` as in the bracket, `timerslen` the timers in its heap.
//!   Go's `m=` is replaced by `curg=`, the goroutine running on it (-1: none): a P does
//!   not record which M holds it, and Go's M line, where `curg` normally appears, cannot
//!   be filled in for Ms that are not idle (next point). Go's `gfreecnt` is left out: the
//!   free list belongs to the M holding the P and cannot be read from sysmon without a
//!   race.
//! - **M lines**: gort keeps a list of idle Ms only (Go walks `allm`), so each *idle* M
//!   gets a line: it has no P, runs nothing, is not spinning and is blocked on its
//!   condition variable; `timer=true` marks the idle M that sleeps until the earliest
//!   timer. The Ms that are not idle are summed up on one `M*` line: `notidle` (live Ms
//!   minus idle ones), `holdingp` (Ps not idle, each held by one M), `polling` (1 if an M
//!   blocks in the netpoller), `inblocking` (Ms inside a `blocking` call, with or without
//!   their P). These counts are read one after another and may not add up on a busy
//!   runtime.
//! - **G lines**: every goroutine that is alive (never-run, pooled and finished ones are
//!   skipped), in allocation order. `status` uses Go's numbers: 1 runnable, 2 running (it
//!   is some P's current goroutine; `p=` names that P), 4 waiting, with the wait reason
//!   in parentheses as Go prints it (empty when not waiting). A goroutine inside
//!   `blocking` shows as 1 (Go: 3, syscall): its status word does not tell it from a
//!   queued one. Go's `m=`/`lockedm=` are replaced by `p=` (gort knows which P runs a
//!   goroutine, not which M), and its name, if it has one, ends the line. At most
//!   [`MAX_G_LINES`] goroutines get a line per trace; one more line then counts the rest
//!   and gives the totals by status.
//!
//! # Reading the scheduler from sysmon
//!
//! Everything comes from atomics (P status words, counters, queue indices, the global
//! queue's length mirror, the scheduler-wide counts), the scheduler lock held just long
//! enough to read those counts and copy the idle lists (no formatting under it), the
//! `allgs` mutex, taken for [`G_CHUNK`] goroutines at a time so that a spawn needing a
//! fresh G waits at most one chunk, and each G's info lock (its id and name, as dumps read
//! them). `allgs` only grows until shutdown, which joins sysmon first, so indices stay
//! valid between chunks and a P's `curg` pointer always points to a live G, as for hog
//! reports. Nothing is printed once shutdown has begun. Each trace is formatted into one
//! string and written to stderr with one call, bypassing the test harness's capture as
//! Go's runtime writes to fd 2. The values are a snapshot taken piece by piece while the
//! runtime runs: exact for a quiet runtime, close for a busy one (a goroutine that was
//! some P's current one when the trace began shows as running).

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::g::{WaitReason, G};
use crate::p::{PStatus, SYSCALL_IN};
use crate::park::{ACTIVE, WAITING};
use crate::sched::Sched;

/// Goroutines listed one by one per detailed trace; the rest are counted.
pub(crate) const MAX_G_LINES: usize = 1000;
/// Goroutines looked at per hold of the `allgs` mutex.
pub(crate) const G_CHUNK: usize = 1024;

/// Sysmon's schedtrace state: when it started and when the next line is due.
pub(crate) struct SchedTrace {
    period: Duration,
    start: Instant,
    /// `None`: tracing off (or the next line would be past the end of time).
    next: Option<Instant>,
    detail: bool,
}

impl SchedTrace {
    /// Sysmon calls this once when it starts: the clock of the `SCHED <n>ms` field.
    pub(crate) fn new(s: &Sched) -> SchedTrace {
        let start = Instant::now();
        SchedTrace {
            period: s.config.schedtrace.unwrap_or(Duration::MAX),
            start,
            next: s.config.schedtrace.map(|_| start),
            detail: s.config.scheddetail,
        }
    }

    /// Sysmon's sleep, shortened so that it wakes when the next line is due.
    pub(crate) fn cap(&self, delay: Duration) -> Duration {
        match self.next {
            Some(next) => delay.min(next.saturating_duration_since(Instant::now())),
            None => delay,
        }
    }

    /// Prints the trace if it is due (called at every sysmon tick).
    pub(crate) fn tick(&mut self, s: &Sched) {
        let Some(next) = self.next else { return };
        let now = Instant::now();
        if now < next {
            return;
        }
        // Next grid point after `now`: skip the periods that were missed entirely.
        let period = self.period.as_nanos().max(1);
        let missed = (now - next).as_nanos() / period;
        self.next = u64::try_from((missed + 1) * period)
            .ok()
            .and_then(|ns| next.checked_add(Duration::from_nanos(ns)));
        if let Some(text) = render(s, now.saturating_duration_since(self.start), self.detail) {
            // Like Go's runtime: one write to fd 2, nothing to do if it fails.
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

/// The scheduler-wide numbers, read in one short hold of the scheduler lock so they agree
/// with each other (the idle lists and `npidle` change only under it; `nthreads` grows
/// before a new M can reach the idle list and shrinks after an exiting M has left it, so
/// `idle_threads <= threads` here), and copied out so nothing is formatted under it.
/// `None` once shutdown has begun: stopped Ms then exit without leaving the idle list, and
/// the runtime is going away (Go prints nothing at exit either).
struct Snapshot {
    idle_procs: usize,
    /// Live Ms, sysmon not included.
    threads: usize,
    spinning: usize,
    idle_threads: usize,
    runqueue: usize,
    /// Only for detail: which Ps are idle, the idle Ms' ids, the timer M's id.
    idle_ps: Vec<bool>,
    idle_ms: Vec<usize>,
    timer_m: Option<usize>,
}

fn snapshot(s: &Sched, detail: bool) -> Option<Snapshot> {
    let l = s.lock.lock();
    // Set under this lock, in the same hold that tells the idle Ms to stop.
    if s.shutdown.load(SeqCst) {
        return None;
    }
    let mut out = Snapshot {
        idle_procs: s.npidle.load(SeqCst),
        threads: s.nthreads.load(SeqCst),
        spinning: s.nmspinning.load(SeqCst),
        idle_threads: l.idle_ms.len(),
        runqueue: s.global_len(),
        idle_ps: Vec::new(),
        idle_ms: Vec::new(),
        timer_m: None,
    };
    if detail {
        out.idle_ps = vec![false; s.ps.len()];
        for &pid in &l.idle_ps {
            out.idle_ps[pid] = true;
        }
        out.idle_ms = l.idle_ms.iter().map(|m| m.id).collect();
        out.timer_m = l.timer_m.as_ref().map(|m| m.id);
    }
    Some(out)
}

/// Formats one trace: the SCHED line, and with `detail` the P, M and G lines. `None`
/// during shutdown.
fn render(s: &Sched, elapsed: Duration, detail: bool) -> Option<String> {
    let snap = snapshot(s, detail)?;
    let procs = s.ps.len();
    let mut out = String::with_capacity(128 + 4 * procs);
    let _ = write!(
        out,
        "SCHED {}ms: gomaxprocs={procs} idleprocs={} threads={} spinningthreads={} \
         needspinning=0 idlethreads={} runqueue={} [",
        elapsed.as_millis(),
        snap.idle_procs,
        // Sysmon (this thread) is alive and not counted by `nthreads`; Go counts it.
        snap.threads + 1,
        snap.spinning,
        snap.idle_threads,
        snap.runqueue,
    );
    for (i, p) in s.ps.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(out, "{sep}{}", p.runq.len());
    }
    out.push_str("]\n");
    if detail {
        render_detail(s, &snap, &mut out);
    }
    Some(out)
}

/// One live goroutine as a G line shows it.
struct GLine {
    id: u64,
    /// Go's status number.
    status: u8,
    reason: &'static str,
    p: Option<usize>,
    name: Option<String>,
}

/// Live goroutines by status.
#[derive(Default)]
struct GCounts {
    runnable: u64,
    running: u64,
    waiting: u64,
}

fn render_detail(s: &Sched, snap: &Snapshot, out: &mut String) {
    // Each P's current goroutine: the pointer, to tell running goroutines from runnable
    // ones below, and its id now, before the P moves on.
    let curgs: Vec<*const G> =
        s.ps.iter()
            .map(|p| p.status.curg.load(Relaxed).cast_const())
            .collect();
    let p_curg: Vec<Option<u64>> = curgs
        .iter()
        .map(|&g| {
            // SAFETY: a non-null `curg` points to a G of this runtime; Gs stay in `allgs`
            // until shutdown, which joins sysmon (this thread) first, so it is alive.
            // `info_snapshot` takes the info lock that a reuse of the G also takes.
            (!g.is_null()).then(|| unsafe { (*g).info_snapshot() }.0)
        })
        .collect();
    let (glines, counts) = scan_goroutines(s, &curgs);

    for (pid, p) in s.ps.iter().enumerate() {
        let syscall = p.status.syscall.load(SeqCst);
        let status = if snap.idle_ps[pid] {
            0
        } else if PStatus::state(syscall) == SYSCALL_IN {
            2
        } else {
            1
        };
        let _ = writeln!(
            out,
            "  P{pid}: status={status} schedtick={} syscalltick={} curg={} runqsize={} \
             timerslen={}",
            p.counters.switches.load(Relaxed),
            syscall >> 2,
            Id(p_curg[pid]),
            p.runq.len(),
            p.timers.len(),
        );
    }

    for &id in &snap.idle_ms {
        let _ = writeln!(
            out,
            "  M{id}: p=-1 curg=-1 spinning=false blocked=true idle=true timer={}",
            snap.timer_m == Some(id)
        );
    }
    let procs = s.ps.len();
    let _ = writeln!(
        out,
        "  M*: notidle={} holdingp={} polling={} inblocking={}",
        snap.threads.saturating_sub(snap.idle_threads),
        procs - snap.idle_procs.min(procs),
        u8::from(s.polling_now.load(SeqCst)),
        s.nsyscall.load(SeqCst),
    );

    for g in &glines {
        let _ = write!(
            out,
            "  G{}: status={}({}) p={}",
            g.id,
            g.status,
            g.reason,
            Id(g.p)
        );
        if let Some(name) = &g.name {
            let _ = write!(out, " name={name:?}");
        }
        out.push('\n');
    }
    let live = counts.runnable + counts.running + counts.waiting;
    let unlisted = live - glines.len() as u64;
    if unlisted > 0 {
        let _ = writeln!(
            out,
            "  G*: {unlisted} more not listed; of {live} live: runnable={} running={} \
             waiting={}",
            counts.runnable, counts.running, counts.waiting,
        );
    }
}

/// Walks `allgs` a chunk at a time: the first [`MAX_G_LINES`] live goroutines, and counts
/// of all live ones by status. A goroutine is running if it is the current one of a P in
/// `curgs` (indexed by P).
fn scan_goroutines(s: &Sched, curgs: &[*const G]) -> (Vec<GLine>, GCounts) {
    let mut by_addr: Vec<(*const G, usize)> = curgs
        .iter()
        .enumerate()
        .filter(|(_, g)| !g.is_null())
        .map(|(pid, &g)| (g, pid))
        .collect();
    by_addr.sort_unstable();
    let on_p = |g: &Arc<G>| {
        by_addr
            .binary_search_by_key(&Arc::as_ptr(g), |&(g, _)| g)
            .ok()
            .map(|i| by_addr[i].1)
    };

    let mut lines = Vec::new();
    let mut counts = GCounts::default();
    let mut at = 0;
    loop {
        let allgs = s.allgs.lock();
        let Some(chunk) = allgs.get(at..).filter(|c| !c.is_empty()) else {
            break;
        };
        let chunk = &chunk[..chunk.len().min(G_CHUNK)];
        at += chunk.len();
        for g in chunk {
            let (status, reason, p) = match g.state.status() {
                WAITING => {
                    let reason = WaitReason::from_u8(g.wait_reason.load(Relaxed));
                    (4, reason.as_str(), None)
                }
                ACTIVE => match on_p(g) {
                    Some(pid) => (2, "", Some(pid)),
                    None => (1, "", None),
                },
                _ => continue, // never run, pooled, or finished
            };
            match status {
                1 => counts.runnable += 1,
                2 => counts.running += 1,
                _ => counts.waiting += 1,
            }
            if lines.len() == MAX_G_LINES {
                continue;
            }
            // The G may be finishing or reused meanwhile: the snapshot is consistent in
            // itself (it takes the G's info lock) and at worst names its next goroutine.
            let (id, name, _) = g.info_snapshot();
            lines.push(GLine {
                id,
                status,
                reason,
                p,
                name,
            });
        }
    }
    (lines, counts)
}

/// An optional id printed Go's way: the number, or -1 for none.
struct Id<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for Id<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-1"),
        }
    }
}

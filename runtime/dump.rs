//! Goroutine dumps ([`dump`]) and deadlock detection (Go's `checkdead`).
//!
//! # Dumps
//!
//! A dump lists every live goroutine: its status (`running`, `runnable`, or the wait
//! reason when parked, with how long it has waited), the *wait site* (the line of the
//! user's code whose blocking call parked it: every blocking gort call is
//! `#[track_caller]`), its spawn site and its name. Goroutines that agree on all of
//! these (same status or wait reason, same wait site, same spawn site, same name) are
//! one entry with their count, the range of their waiting times and their lowest ids,
//! so a million goroutines stuck on one line read as one entry:
//!
//! ```text
//! 100000 goroutines "worker" [chan receive, 2.3 s to 2.9 s]:
//!     chan receive at src/main.rs:14:28
//!     spawned at src/main.rs:12:9
//!     ids 2, 3, 4, 5, 6, 7, 8, 9 and 99992 more
//!
//! goroutine 100002 "acceptor" [IO wait (read), 4 min]:
//!     IO wait (read) at src/server.rs:31:40
//!     spawned at src/main.rs:20:5
//!
//! goroutine 1 "main" [running]:
//!     spawned at src/main.rs:5:5
//! ```
//!
//! Entries come most numerous first (the leak you are looking for), then by lowest id.
//! Waiting times read `µs`, `ms`, `s` (one decimal) or `min`. `running` means a P's
//! current goroutine (or the caller) as seen by a snapshot taken without stopping
//! anything; a goroutine inside [`blocking`](crate::blocking) shows as `runnable`.
//!
//! Cost: one pass over the runtime's goroutine list (`allgs`) under its mutex, which
//! only goroutine creation takes (and only when no free G can be reused), never the
//! scheduler lock; per goroutine a few relaxed loads, its identity under its own spin
//! lock, and one hash-map lookup keyed by the tuple above (site pointers interned, the
//! name hashed), so O(n) with no allocation per goroutine. Formatting is per entry.
//! A million parked goroutines dump in about 0.2 s here (`tests/dump.rs`).
//!
//! With `Builder::sigquit_dump(true)` or `GORT_SIGQUIT=dump`, SIGQUIT (`Ctrl-\`) prints
//! this dump for every such runtime to stderr (see `sigquit.rs`).
//!
//! # Deadlock
//!
//! When the last M goes idle, every P is idle, no M spins, no goroutine is
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
//! `try_block_on` returns it as [`RunError::Deadlock`]. It is built by the M that
//! detects the deadlock, under the scheduler lock: the verdict must hold while the
//! report is published (a `block_on` starting meanwhile clears it under that lock), and
//! with every goroutine asleep nobody else needs the lock anyway.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt::{self, Write};
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::Arc;

use crate::context;
use crate::g::{GInfo, WaitReason};
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
    /// Lists every live goroutine, identical ones grouped (module docs).
    pub(crate) fn dump(&self) -> String {
        let now = gort_asm::ticks();
        let mut groups = self.group_goroutines();
        // Most numerous first, then by lowest id (ids are unique: a total order).
        groups.sort_unstable_by_key(|g| (std::cmp::Reverse(g.count), g.lowest));
        let mut out = String::with_capacity(groups.len() * 128);
        for (i, g) in groups.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            g.write(&mut out, now);
        }
        out
    }

    /// One pass over `allgs` (under its mutex, not the scheduler lock): every live
    /// goroutine counted into its group.
    fn group_goroutines(&self) -> Vec<Group> {
        // Whatever a P runs now, and the caller: "running". A P keeps pointing at its
        // last goroutine until it runs another or goes idle, so one that parked since is
        // WAITING (checked first) and one requeued since is off by one moment only.
        let mut running: Vec<usize> = self
            .ps
            .iter()
            .map(|p| p.status.curg.load(Relaxed) as usize)
            .chain(std::iter::once(context::current_g() as usize))
            .filter(|&g| g != 0)
            .collect();
        running.sort_unstable();
        let mut c = Collector::default();
        let allgs = self.allgs.lock();
        c.groups.reserve(64);
        for g in allgs.iter() {
            // Acquire (in `status`): a WAITING seen here orders the goroutine's writes of
            // its reason, site and park time before our loads of them.
            let (status, site, parked_at) = match g.state.status() {
                WAITING => match g.wait_reason.load(Relaxed) {
                    // Woken and running again since we loaded the status.
                    0 => (RUNNABLE, None, 0),
                    _ => {
                        let w = g.last_wait();
                        let status = WAITING_BASE + w.reason() as u8;
                        (status, w.site(), g.parked_at.load(Relaxed))
                    }
                },
                ACTIVE if running.binary_search(&(Arc::as_ptr(g) as usize)).is_ok() => {
                    (RUNNING, None, 0)
                }
                ACTIVE => (RUNNABLE, None, 0),
                _ => continue, // free for reuse, being created, or finished
            };
            g.with_identity(|info| c.add(status, site, parked_at, info));
        }
        drop(allgs);
        c.groups
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
            || l.inboxes.iter().any(|q| !q.is_empty())
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

/// `Group::status` of a goroutine on a P right now.
const RUNNING: u8 = 0;
/// `Group::status` of a goroutine in a run queue (or inside `blocking`).
const RUNNABLE: u8 = 1;
/// `Group::status` of a parked goroutine: this plus its `WaitReason`.
const WAITING_BASE: u8 = 2;

/// The lowest ids of a group, kept sorted: a dump shows a few.
const SHOWN_IDS: usize = 8;

#[derive(Clone, Copy)]
struct LowIds {
    ids: [u64; SHOWN_IDS],
    len: usize,
}

impl LowIds {
    fn new() -> LowIds {
        LowIds {
            ids: [0; SHOWN_IDS],
            len: 0,
        }
    }

    fn insert(&mut self, id: u64) {
        if self.len == SHOWN_IDS {
            if id >= self.ids[SHOWN_IDS - 1] {
                return;
            }
            self.len -= 1; // the largest falls off
        }
        let at = self.ids[..self.len].partition_point(|&x| x < id);
        self.ids.copy_within(at..self.len, at + 1);
        self.ids[at] = id;
        self.len += 1;
    }

    fn as_slice(&self) -> &[u64] {
        &self.ids[..self.len]
    }
}

/// Goroutines that look the same in a dump.
struct Group {
    status: u8,
    wait_site: Option<&'static Location<'static>>,
    spawn_site: &'static Location<'static>,
    name: Option<Box<str>>,
    count: usize,
    lowest: u64,
    /// The lowest ids, once there are two (most entries of a dump of distinct
    /// goroutines have one: they stay small).
    ids: Option<Box<LowIds>>,
    /// Earliest and latest park times (ticks) of its parked goroutines.
    first_parked: u64,
    last_parked: u64,
    /// The next group with the same key (same name hash, different name), or `NONE`.
    next: usize,
}

const NONE: usize = usize::MAX;

impl Group {
    fn status_str(&self) -> &'static str {
        match self.status {
            RUNNING => "running",
            RUNNABLE => "runnable",
            s => WaitReason::from_u8(s - WAITING_BASE).as_str(),
        }
    }

    /// The entry: header line, wait site, spawn site, ids of a group.
    fn write(&self, out: &mut String, now: u64) {
        if self.count == 1 {
            let _ = write!(out, "goroutine {}", self.lowest);
        } else {
            let _ = write!(out, "{} goroutines", self.count);
        }
        if let Some(name) = &self.name {
            let _ = write!(out, " {name:?}");
        }
        let _ = write!(out, " [{}", self.status_str());
        if self.status >= WAITING_BASE && self.last_parked != 0 {
            let longest = waited(now, self.first_parked);
            let shortest = waited(now, self.last_parked);
            if self.count == 1 || longest == shortest {
                let _ = write!(out, ", {longest}");
            } else {
                let _ = write!(out, ", {shortest} to {longest}");
            }
        }
        out.push_str("]:\n");
        if let Some(site) = self.wait_site.filter(|_| self.status >= WAITING_BASE) {
            let _ = writeln!(out, "    {} at {site}", self.status_str());
        }
        let _ = writeln!(out, "    spawned at {}", self.spawn_site);
        if let Some(ids) = self.ids.as_deref() {
            out.push_str("    ids ");
            for (i, id) in ids.as_slice().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{id}");
            }
            if self.count > ids.len {
                let _ = write!(out, " and {} more", self.count - ids.len);
            }
            out.push('\n');
        }
    }
}

/// How long since `parked` (ticks), human-readable.
fn waited(now: u64, parked: u64) -> String {
    format_wait(gort_asm::ticks_to_ns(now.saturating_sub(parked)))
}

/// `µs` below a millisecond, `ms` below a second, seconds with one decimal below a
/// minute, whole minutes beyond (Go's dumps say "3 minutes"); truncated, never rounded
/// up, so a waiting time never reads longer than it is.
pub(crate) fn format_wait(ns: u64) -> String {
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;
    if ns < MS {
        format!("{} µs", ns / 1_000)
    } else if ns < S {
        format!("{} ms", ns / MS)
    } else if ns < 60 * S {
        let tenths = ns / (S / 10);
        format!("{}.{} s", tenths / 10, tenths % 10)
    } else {
        format!("{} min", ns / (60 * S))
    }
}

/// Grouping key: status, interned wait site and spawn site, hash of the name. Groups
/// whose names differ but hash alike hang off one entry (`Group::next`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    status: u8,
    wait_site: u32,
    spawn_site: u32,
    name_hash: u64,
}

/// A small multiply-rotate hasher (the keys are our own, not attacker-chosen, and
/// SipHash would be a third of a dump's time).
#[derive(Default)]
struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn mix(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(last) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u8(&mut self, v: u8) {
        self.mix(v.into());
    }

    fn write_u32(&mut self, v: u32) {
        self.mix(v.into());
    }

    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Fast = BuildHasherDefault<FastHasher>;

fn hash_name(name: &str) -> u64 {
    let mut h = FastHasher::default();
    h.write(name.as_bytes());
    // Never 0, which stands for "no name".
    h.finish() | 1
}

/// Interns locations: the same source position may come as distinct `&'static
/// Location`s (one per codegen unit a generic caller is instantiated in), so pointers
/// map to ids by value. Few distinct pointers exist, and the last one is cached.
#[derive(Default)]
struct Sites {
    by_ptr: HashMap<usize, u32, Fast>,
    by_value: HashMap<(&'static str, u32, u32), u32, Fast>,
    last: Option<(usize, u32)>,
}

impl Sites {
    #[inline]
    fn id(&mut self, l: &'static Location<'static>) -> u32 {
        let p = l as *const Location<'static> as usize;
        if let Some((lp, id)) = self.last {
            if lp == p {
                return id;
            }
        }
        let n = self.by_value.len() as u32;
        let by_value = &mut self.by_value;
        let id = *self.by_ptr.entry(p).or_insert_with(|| {
            *by_value
                .entry((l.file(), l.line(), l.column()))
                .or_insert(n)
        });
        self.last = Some((p, id));
        id
    }
}

#[derive(Default)]
struct Collector {
    sites: Sites,
    map: HashMap<Key, usize, Fast>,
    groups: Vec<Group>,
}

impl Collector {
    /// Counts one goroutine. Runs under its info lock: no allocation unless it starts
    /// a new group.
    fn add(
        &mut self,
        status: u8,
        wait_site: Option<&'static Location<'static>>,
        parked_at: u64,
        info: &GInfo,
    ) {
        let name = info.name.as_deref();
        let key = Key {
            status,
            wait_site: wait_site.map_or(u32::MAX, |l| self.sites.id(l)),
            spawn_site: self.sites.id(info.site),
            name_hash: name.map_or(0, hash_name),
        };
        let fresh = |groups: &mut Vec<Group>| {
            groups.push(Group {
                status,
                wait_site,
                spawn_site: info.site,
                name: name.map(Box::from),
                count: 0,
                lowest: u64::MAX,
                ids: None,
                first_parked: u64::MAX,
                last_parked: 0,
                next: NONE,
            });
            groups.len() - 1
        };
        let i = match self.map.entry(key) {
            Entry::Vacant(e) => *e.insert(fresh(&mut self.groups)),
            Entry::Occupied(e) => {
                let mut i = *e.get();
                while self.groups[i].name.as_deref() != name {
                    if self.groups[i].next == NONE {
                        let j = fresh(&mut self.groups);
                        self.groups[i].next = j;
                    }
                    i = self.groups[i].next;
                }
                i
            }
        };
        let g = &mut self.groups[i];
        g.count += 1;
        if g.count > 1 {
            let lowest = g.lowest;
            g.ids
                .get_or_insert_with(|| {
                    let mut ids = Box::new(LowIds::new());
                    ids.insert(lowest);
                    ids
                })
                .insert(info.id);
        }
        g.lowest = g.lowest.min(info.id);
        if parked_at != 0 {
            g.first_parked = g.first_parked.min(parked_at);
            g.last_parked = g.last_parked.max(parked_at);
        }
    }
}

/// Lists every live goroutine of the current runtime: status or wait reason with the
/// time waited, wait site, spawn site, name; identical goroutines grouped (see the
/// [crate docs](crate#observability) and the format below).
///
/// ```text
/// 1000 goroutines "worker" [chan receive, 2.3 s to 2.9 s]:
///     chan receive at src/main.rs:14:28
///     spawned at src/main.rs:12:9
///     ids 2, 3, 4, 5, 6, 7, 8, 9 and 992 more
///
/// goroutine 1 "main" [running]:
///     spawned at src/main.rs:5:5
/// ```
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

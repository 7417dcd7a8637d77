//! The trace file format, defined once: the recorder writes it (`recorder.rs`,
//! `writer.rs`) and [`Trace::read`] reads it back for tools such as `gort-trace`.
//!
//! A trace is a sequence of little-endian 64-bit words:
//!
//! ```text
//! header   MAGIC | VERSION + procs<<32 | ns per tick (f64 bits) | start ticks | start unix ns | 0
//! block    tag | payload length in words << 8 | M id << 40      then the payload
//!            EVENTS  records made by one M (M id NO_M: plain threads and sysmon)
//!            SITE    key, line<<32 | column, byte length, file name (padded to words)
//!            END     events written, 0 (reserved), end ticks, ns since the start
//! record   timestamp (ticks) | kind + aux<<8 + P<<16 + arg<<32 | extra words by kind
//! ```
//!
//! A record is 2 words plus 0 to 3 extra words (see [`extra_words`]): 16 to 40 bytes,
//! fixed for each kind, so a reader skips what it does not know. Code locations
//! (spawn and wait sites) are `&'static Location`s: records carry their address as a key,
//! and the writer emits one SITE block the first time it meets a key, so the hot path
//! never formats or hashes.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::Path;

use crate::g::WaitReason;

/// First word of every trace file: `GORTTRC` and a format byte.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"GORTTRC\x01");
pub(crate) const VERSION: u64 = 1;
pub(crate) const HEADER_WORDS: usize = 6;

pub(crate) const BLOCK_EVENTS: u64 = 1;
pub(crate) const BLOCK_SITE: u64 = 2;
pub(crate) const BLOCK_END: u64 = 3;
/// The M id of records made off the Ms (plain threads, sysmon).
pub(crate) const NO_M: u64 = 0xFF_FFFF;
/// The P field of a record made without a P.
pub(crate) const NO_P: u64 = 0xFFFF;

/// Record kinds. The numbers are the file format: append, never renumber.
pub(crate) mod kind {
    pub const GO_CREATE: u8 = 1;
    pub const GO_NAME: u8 = 2;
    pub const GO_START: u8 = 3;
    pub const GO_YIELD: u8 = 4;
    pub const GO_PREEMPTED: u8 = 5;
    pub const GO_PARK: u8 = 6;
    pub const GO_DONE: u8 = 7;
    pub const GO_REQUEUE: u8 = 8;
    pub const GO_UNPARK: u8 = 9;
    pub const BLOCKING_ENTER: u8 = 10;
    pub const BLOCKING_EXIT: u8 = 11;
    pub const HANDOFF: u8 = 12;
    pub const PREEMPT_REQUEST: u8 = 13;
    pub const HOG: u8 = 14;
    pub const STEAL: u8 = 15;
    pub const GLOBAL_PULL: u8 = 16;
    pub const OVERFLOW: u8 = 17;
    pub const NETPOLL_WAKE: u8 = 18;
    pub const TIMER_FIRE: u8 = 19;
    pub const M_START: u8 = 20;
    pub const M_PARK: u8 = 21;
    pub const M_WAKE: u8 = 22;
    pub const P_IDLE: u8 = 23;
    pub const P_BUSY: u8 = 24;
}

/// Extra words after the two fixed ones, by kind (`GO_NAME` adds its bytes on top:
/// `arg` holds their length).
pub(crate) fn extra_words(k: u8) -> Option<usize> {
    use kind::*;
    Some(match k {
        GO_CREATE => 3,
        GO_PARK | GO_UNPARK => 2,
        GO_NAME | GO_START | GO_YIELD | GO_PREEMPTED | GO_DONE | GO_REQUEUE | BLOCKING_ENTER
        | BLOCKING_EXIT | PREEMPT_REQUEST | HOG => 1,
        HANDOFF | STEAL | GLOBAL_PULL | OVERFLOW | NETPOLL_WAKE | TIMER_FIRE | M_START | M_PARK
        | M_WAKE | P_IDLE | P_BUSY => 0,
        _ => return None,
    })
}

/// Words a record takes in all, from its second word.
pub(crate) fn record_words(w1: u64) -> Option<usize> {
    let k = w1 as u8;
    let extra = extra_words(k)?;
    let bytes = if k == kind::GO_NAME {
        (w1 >> 32) as usize
    } else {
        0
    };
    Some(2 + extra + bytes.div_ceil(8))
}

/// The second word of a record.
#[inline(always)]
pub(crate) fn header(k: u8, aux: u8, p: u64, arg: u32) -> u64 {
    k as u64 | (aux as u64) << 8 | (p & 0xFFFF) << 16 | (arg as u64) << 32
}

/// Who made a goroutine runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Waker {
    /// The goroutine with this id (a channel send, a mutex unlock, `unpark`, ...).
    Goroutine(u64),
    /// A plain OS thread.
    Thread,
    /// An expired timer (`sleep`, a timeout).
    Timer,
    /// The netpoller: the socket became ready.
    Netpoll,
}

pub(crate) const WAKER_GOROUTINE: u8 = 0;
pub(crate) const WAKER_THREAD: u8 = 1;
pub(crate) const WAKER_TIMER: u8 = 2;
pub(crate) const WAKER_NETPOLL: u8 = 3;

/// How a goroutine got a P back after `gort::blocking`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockingExit {
    /// It kept its P (the fast path).
    SameP,
    /// Sysmon had handed its P off; it took an idle one.
    OtherP,
    /// No P was idle: it went to the global queue.
    Requeued,
}

/// A code location named in a trace: a spawn site or a wait site.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Site {
    /// Source file.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A key for a [`Site`] of a trace (look it up with [`Trace::site`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteId(pub u64);

/// What happened. `g` is a goroutine id; each variant's doc names its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // the fields are described by their variant's doc
pub enum EventKind {
    /// Goroutine `g` was spawned by `parent` (0: by a plain thread) at `site`.
    GoCreate { g: u64, parent: u64, site: SiteId },
    /// Goroutine `g` started running on this M and P; `runq` goroutines were waiting in
    /// the P's local queue (its 256-slot ring and `runnext`, so up to 257); `inherited`:
    /// it came from `runnext` and shares the time slice.
    GoStart { g: u64, runq: u32, inherited: bool },
    /// `g` yielded (`yield_now`): it stays runnable.
    GoYield { g: u64 },
    /// `g` yielded at a `checkpoint` because sysmon asked it to.
    GoPreempted { g: u64 },
    /// `g` parked, waiting for `reason` at `site` (`None`: site unknown).
    GoPark {
        g: u64,
        reason: WaitReason,
        site: Option<SiteId>,
    },
    /// `g` finished.
    GoDone { g: u64 },
    /// `g` came back from `blocking` with no P to be had and went to the global queue.
    GoRequeue { g: u64 },
    /// `g` was made runnable by `by`.
    GoUnpark { g: u64, by: Waker },
    /// `g` entered `gort::blocking`.
    BlockingEnter { g: u64 },
    /// `g` left `gort::blocking`.
    BlockingExit { g: u64, how: BlockingExit },
    /// Sysmon took the event's P from an M blocked in `blocking`.
    Handoff,
    /// Sysmon asked `g`, running on the event's P, to yield.
    PreemptRequest { g: u64 },
    /// Sysmon reported `g` as a hog: it ran `ms` without a scheduling point.
    Hog { g: u64, ms: u32 },
    /// This M's P stole `count` goroutines from P `victim`.
    Steal { victim: u32, count: u32 },
    /// This M's P took `count` goroutines from the global queue.
    GlobalPull { count: u32 },
    /// The P's local queue was full: `count` goroutines moved to the global queue.
    Overflow { count: u32 },
    /// The netpoller made `count` goroutines runnable (`blocking_poll`: by an M that
    /// slept in it).
    NetpollWake { count: u32, blocking_poll: bool },
    /// `count` timers fired.
    TimerFire { count: u32 },
    /// The M's thread started.
    MStart,
    /// The M went to sleep without a P.
    MPark,
    /// The M woke up.
    MWake,
    /// The event's P became idle.
    PIdle,
    /// The event's P was taken out of the idle list.
    PBusy,
}

/// One trace event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since the trace started.
    pub ts: u64,
    /// The M that recorded it (`None`: a plain thread or sysmon).
    pub m: Option<u32>,
    /// The P involved (`None`: none).
    pub p: Option<u32>,
    /// What happened.
    pub kind: EventKind,
}

/// A trace read back from a file: every event in time order, with the sites and
/// goroutine names they refer to.
#[derive(Debug, Default)]
pub struct Trace {
    /// `procs` of the traced runtime.
    pub procs: u32,
    /// Wall-clock time the trace started (ns since the Unix epoch).
    pub start_unix_ns: u64,
    /// Events, ordered by time (events of one M keep their recorded order).
    pub events: Vec<Event>,
    /// Whether the file ended with the recorder's END block (false: cut short).
    pub complete: bool,
    /// Size of the file in bytes.
    pub bytes: u64,
    sites: HashMap<SiteId, Site>,
    names: HashMap<u64, String>,
}

impl Trace {
    /// Reads a trace file written by a gort runtime.
    pub fn read(path: impl AsRef<Path>) -> io::Result<Trace> {
        Trace::from_bytes(&std::fs::read(path)?)
    }

    /// Parses a trace from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> io::Result<Trace> {
        let bad =
            |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("gort trace: {what}"));
        if bytes.len() % 8 != 0 || bytes.len() < HEADER_WORDS * 8 {
            return Err(bad("not a trace file (bad length)"));
        }
        let words: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if words[0] != MAGIC {
            return Err(bad("not a trace file (bad magic)"));
        }
        if words[1] as u32 as u64 != VERSION {
            return Err(bad(&format!("unsupported version {}", words[1] as u32)));
        }
        let mut ns_per_tick = f64::from_bits(words[2]);
        let start = words[3];
        // The END block's clock readings give the tick rate over the whole trace: use it
        // when the trace is long enough for it to beat the process's 2 ms calibration.
        if let Some(end) = words
            .len()
            .checked_sub(5)
            .filter(|&i| words[i] & 0xFF == BLOCK_END && (words[i] >> 8) as u32 == 4)
        {
            let (ticks, ns) = (words[end + 3].saturating_sub(start), words[end + 4]);
            if ns >= 20_000_000 && ticks > 0 {
                ns_per_tick = ns as f64 / ticks as f64;
            }
        }
        let mut t = Trace {
            procs: (words[1] >> 32) as u32,
            start_unix_ns: words[4],
            bytes: bytes.len() as u64,
            ..Trace::default()
        };
        let to_ns = |ticks: u64| (ticks.saturating_sub(start) as f64 * ns_per_tick) as u64;
        let mut i = HEADER_WORDS;
        while i < words.len() {
            let h = words[i];
            let len = ((h >> 8) & 0xFFFF_FFFF) as usize;
            let m = h >> 40;
            let body = words
                .get(i + 1..i + 1 + len)
                .ok_or_else(|| bad("block runs past the end of the file"))?;
            i += 1 + len;
            match h & 0xFF {
                BLOCK_EVENTS => {
                    let m = (m != NO_M).then_some(m as u32);
                    let mut j = 0;
                    while j < body.len() {
                        let n = body
                            .get(j + 1)
                            .and_then(|&w1| record_words(w1))
                            .filter(|&n| j + n <= body.len())
                            .ok_or_else(|| bad("malformed record"))?;
                        let rec = &body[j..j + n];
                        j += n;
                        if rec[1] as u8 == kind::GO_NAME {
                            let len = (rec[1] >> 32) as usize;
                            let raw: Vec<u8> =
                                rec[3..].iter().flat_map(|w| w.to_le_bytes()).collect();
                            let name =
                                String::from_utf8_lossy(&raw[..len.min(raw.len())]).into_owned();
                            t.names.insert(rec[2], name);
                            continue;
                        }
                        t.events.push(decode(rec, m, to_ns(rec[0])));
                    }
                }
                BLOCK_SITE => {
                    let [key, pos, n, ref file @ ..] = *body else {
                        return Err(bad("malformed site"));
                    };
                    let raw: Vec<u8> = file.iter().flat_map(|w| w.to_le_bytes()).collect();
                    let file =
                        String::from_utf8_lossy(&raw[..(n as usize).min(raw.len())]).into_owned();
                    let site = Site {
                        file,
                        line: (pos >> 32) as u32,
                        column: pos as u32,
                    };
                    t.sites.insert(SiteId(key), site);
                }
                BLOCK_END => t.complete = true,
                _ => {} // a newer block type: skip it
            }
        }
        // Stable: the records of one M are already in order, whatever the clock says.
        t.events.sort_by_key(|e| e.ts);
        Ok(t)
    }

    /// The location a [`SiteId`] stands for.
    pub fn site(&self, id: SiteId) -> Option<&Site> {
        self.sites.get(&id)
    }

    /// The name given to goroutine `g` when it was spawned, if any.
    pub fn name(&self, g: u64) -> Option<&str> {
        self.names.get(&g).map(String::as_str)
    }
}

fn decode(rec: &[u64], m: Option<u32>, ts: u64) -> Event {
    use kind::*;
    let w1 = rec[1];
    let (k, aux, p, arg) = (
        w1 as u8,
        (w1 >> 8) as u8,
        (w1 >> 16) & 0xFFFF,
        (w1 >> 32) as u32,
    );
    let x = |i: usize| rec[2 + i];
    let kind = match k {
        GO_CREATE => EventKind::GoCreate {
            g: x(0),
            parent: x(1),
            site: SiteId(x(2)),
        },
        GO_START => EventKind::GoStart {
            g: x(0),
            runq: arg,
            inherited: aux != 0,
        },
        GO_YIELD => EventKind::GoYield { g: x(0) },
        GO_PREEMPTED => EventKind::GoPreempted { g: x(0) },
        GO_PARK => EventKind::GoPark {
            g: x(0),
            reason: WaitReason::from_u8(aux),
            site: (x(1) != 0).then_some(SiteId(x(1))),
        },
        GO_DONE => EventKind::GoDone { g: x(0) },
        GO_REQUEUE => EventKind::GoRequeue { g: x(0) },
        GO_UNPARK => EventKind::GoUnpark {
            g: x(0),
            by: match aux {
                WAKER_GOROUTINE => Waker::Goroutine(x(1)),
                WAKER_TIMER => Waker::Timer,
                WAKER_NETPOLL => Waker::Netpoll,
                _ => Waker::Thread,
            },
        },
        BLOCKING_ENTER => EventKind::BlockingEnter { g: x(0) },
        BLOCKING_EXIT => EventKind::BlockingExit {
            g: x(0),
            how: match aux {
                0 => BlockingExit::SameP,
                1 => BlockingExit::OtherP,
                _ => BlockingExit::Requeued,
            },
        },
        HANDOFF => EventKind::Handoff,
        PREEMPT_REQUEST => EventKind::PreemptRequest { g: x(0) },
        HOG => EventKind::Hog { g: x(0), ms: arg },
        STEAL => EventKind::Steal {
            victim: arg >> 16,
            count: arg & 0xFFFF,
        },
        GLOBAL_PULL => EventKind::GlobalPull { count: arg },
        OVERFLOW => EventKind::Overflow { count: arg },
        NETPOLL_WAKE => EventKind::NetpollWake {
            count: arg,
            blocking_poll: aux != 0,
        },
        TIMER_FIRE => EventKind::TimerFire { count: arg },
        M_START => EventKind::MStart,
        M_PARK => EventKind::MPark,
        M_WAKE => EventKind::MWake,
        P_IDLE => EventKind::PIdle,
        _ => EventKind::PBusy, // record_words accepted only known kinds
    };
    Event {
        ts,
        m,
        p: (p != NO_P).then_some(p as u32),
        kind,
    }
}

//! `gort-trace json`: a trace as Chrome Trace Event JSON.
//!
//! - a track per M (`M3 (P1)`: the Ps it ran goroutines for, most used first) and one
//!   for plain threads and sysmon;
//! - a slice per goroutine run, named after the goroutine, with its id, spawn site,
//!   P, how it became runnable and how the run ended;
//! - a flow arrow from each unpark to the run it led to (unparks made outside any
//!   run, by a timer, the netpoller or a thread, get a 1 ns "wake" slice to start
//!   from, since arrows attach to slices);
//! - instants for steals, netpoll wakes, timer fires, global pulls, overflows,
//!   preemption requests, hogs, handoffs, `blocking` enter/exit;
//! - counters: each P's run-queue length (seen at each GoStart), and the numbers of
//!   runnable and running goroutines.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::io::{self, Write};

use gort::trace::{BlockingExit, Event, EventKind, SiteId, Trace};
use serde::Serialize;

use crate::chrome::ChromeWriter;
use crate::counter::Counter;
use crate::describe::{self, Became, Goroutine};
use crate::replay::{Cause, Replay, Run, RunEnd, Start};

/// What to put in the JSON.
#[derive(Clone, Debug, Default)]
pub struct JsonOptions {
    /// Start of the window (ns since the trace started).
    pub from: Option<u64>,
    /// End of the window (ns since the trace started).
    pub to: Option<u64>,
    /// Only these goroutines' runs and flows (instants and counters stay).
    pub goroutines: Option<HashSet<u64>>,
    /// Slices without args. Speedscope names a frame after its slice's name *and*
    /// args, so with args every run is a frame of its own and its aggregate views
    /// (left heavy, sandwich) show nothing; without, runs group by goroutine name.
    pub no_args: bool,
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonStats {
    /// Trace events read.
    pub trace_events: u64,
    /// JSON events written, metadata included.
    pub json_events: u64,
    /// Run slices.
    pub runs: u64,
    /// Flow arrows.
    pub flows: u64,
    /// Instants.
    pub instants: u64,
    /// Counter samples.
    pub counters: u64,
}

/// Track id of the events of M `m` (`None`: threads and sysmon, track 0).
pub fn tid(m: Option<u32>) -> u32 {
    m.map_or(0, |m| m + 1)
}

/// A site formatted by `JsonTrace::cache_site`.
fn cached_site(sites: &HashMap<SiteId, String>, id: Option<SiteId>) -> &str {
    id.and_then(|id| sites.get(&id)).map_or("?", String::as_str)
}

/// A value written as a JSON string through its `Display`, without allocating.
struct Text<T>(T);

impl<T: fmt::Display> Serialize for Text<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// The args of a run slice.
#[derive(Serialize)]
struct RunArgs<'a> {
    goroutine: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<u32>,
    spawned_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runnable_after: Option<Text<Became>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sched_latency_us: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    inherited_time_slice: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    started_before_trace: bool,
    end: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait_site: Option<&'a str>,
}

/// The args of an instant: each kind fills the fields that concern it.
#[derive(Serialize, Default)]
struct InstantArgs {
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    goroutine: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    victim: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocking_poll: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    how: Option<&'static str>,
}

#[derive(Serialize)]
struct WakeArgs<'a> {
    goroutine: u64,
    by: &'a str,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
struct GoroutineCounts {
    runnable: u64,
    running: u64,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
struct RunqLen {
    len: u32,
}

/// Writes `t` as Chrome trace JSON to `out`.
pub fn write_json<W: Write>(t: &Trace, opts: &JsonOptions, out: W) -> io::Result<JsonStats> {
    let mut j = JsonTrace::new(t, opts, out)?;
    let mut cut = false;
    for e in &t.events {
        if e.ts > j.to {
            cut = true;
            break;
        }
        j.event(e)?;
    }
    let end = if cut { j.to } else { j.replay.last_ts() };
    for run in j.replay.finish(end) {
        j.run(&run, cut)?;
    }
    j.finish()
}

struct JsonTrace<'t, 'o, W: Write> {
    t: &'t Trace,
    opts: &'o JsonOptions,
    from: u64,
    to: u64,
    w: ChromeWriter<W>,
    replay: Replay,
    stats: JsonStats,
    /// Ns each M ran goroutines for each P: names the M tracks.
    m_ps: BTreeMap<u32, BTreeMap<Option<u32>, u64>>,
    sites: HashMap<SiteId, String>,
    /// The name of the run being written (reused: no allocation per run).
    name: String,
    in_window: bool,
    counts: Counter<GoroutineCounts>,
    /// Each P's run-queue length at its last GoStart, and its counter.
    runq: BTreeMap<u32, (u32, Counter<RunqLen>)>,
}

impl<'t, 'o, W: Write> JsonTrace<'t, 'o, W> {
    fn new(t: &'t Trace, opts: &'o JsonOptions, out: W) -> io::Result<Self> {
        let mut w = ChromeWriter::new(out)?;
        w.process_name("gort")?;
        Ok(JsonTrace {
            t,
            opts,
            from: opts.from.unwrap_or(0),
            to: opts.to.unwrap_or(u64::MAX),
            w,
            replay: Replay::new(),
            stats: JsonStats::default(),
            m_ps: BTreeMap::new(),
            sites: HashMap::new(),
            name: String::new(),
            in_window: false,
            counts: Counter::new("goroutines".to_string()),
            runq: BTreeMap::new(),
        })
    }

    fn shown(&self, g: u64) -> bool {
        self.opts
            .goroutines
            .as_ref()
            .map_or(true, |set| set.contains(&g))
    }

    /// Formats each site once: runs name the same few sites millions of times.
    fn cache_site(&mut self, id: Option<SiteId>) {
        if let Some(id) = id {
            let t = self.t;
            self.sites
                .entry(id)
                .or_insert_with(|| describe::site(t, Some(id)));
        }
    }

    fn event(&mut self, e: &Event) -> io::Result<()> {
        self.stats.trace_events += 1;
        if let Some(m) = e.m {
            self.m_ps.entry(m).or_default();
        }
        let step = self.replay.step(e);
        if !self.in_window && e.ts >= self.from {
            self.in_window = true;
            self.enter_window()?;
        }
        if let Some(run) = step.ended {
            self.run(&run, false)?;
        }
        if let Some(start) = step.started {
            self.start(&start)?;
        }
        if self.in_window {
            self.instant(e)?;
            self.count_goroutines(e.ts)?;
        }
        Ok(())
    }

    /// Counters hold their value until the next sample: give each its value at the
    /// window's start.
    fn enter_window(&mut self) -> io::Result<()> {
        for (len, counter) in self.runq.values_mut() {
            let len = RunqLen { len: *len };
            self.stats.counters += counter.set(&mut self.w, self.from, len)?;
        }
        self.count_goroutines(self.from)
    }

    fn count_goroutines(&mut self, ts: u64) -> io::Result<()> {
        let now = GoroutineCounts {
            runnable: self.replay.runnable,
            running: self.replay.running,
        };
        self.stats.counters += self.counts.set(&mut self.w, ts, now)?;
        Ok(())
    }

    fn start(&mut self, s: &Start) -> io::Result<()> {
        if let Some(p) = s.p {
            let (len, counter) = self
                .runq
                .entry(p)
                .or_insert_with(|| (s.runq, Counter::new(format!("runq P{p}"))));
            *len = s.runq;
            if self.in_window {
                let len = RunqLen { len: s.runq };
                self.stats.counters += counter.set(&mut self.w, s.ts, len)?;
            }
        }
        let Some(ready) = s.ready else { return Ok(()) };
        let Cause::Unpark { by, m, in_run, .. } = ready.cause else {
            return Ok(());
        };
        if ready.ts < self.from || !self.shown(s.g) {
            return Ok(());
        }
        let from_tid = tid(m);
        // An unpark inside a shown run starts its arrow there; any other needs a
        // slice of its own to start from.
        if !in_run.is_some_and(|w| self.shown(w)) {
            let by = describe::waker(by);
            let args = WakeArgs {
                goroutine: s.g,
                by: &by,
            };
            self.w.complete(
                &format!("wake g{}", s.g),
                "wake",
                from_tid,
                ready.ts,
                1,
                (!self.opts.no_args).then_some(&args),
            )?;
        }
        self.stats.flows += 1;
        let id = self.stats.flows;
        self.w
            .flow("wake", "wake", id, from_tid, ready.ts, tid(Some(s.m)), s.ts)
    }

    fn run(&mut self, run: &Run, cut: bool) -> io::Result<()> {
        *self
            .m_ps
            .entry(run.m)
            .or_default()
            .entry(run.p)
            .or_default() += run.duration();
        let start = run.start.max(self.from);
        let end = run.end.min(self.to);
        let inside = start < end || (start == end && run.start == run.end);
        if !inside || !self.shown(run.g) {
            return Ok(());
        }
        let g = self.replay.goroutine(run.g);
        let spawn_site = g.and_then(|g| g.site);
        let parent = g.filter(|g| g.created).map(|g| g.parent);
        let (wait_reason, wait_site) = match run.how {
            RunEnd::Park { reason, site } => (Some(reason.as_str()), Some(site)),
            _ => (None, None),
        };
        self.cache_site(spawn_site);
        self.cache_site(wait_site.flatten());
        let end_kind = match run.how {
            RunEnd::TraceEnd if cut => "running at window end",
            how => describe::end_kind(how),
        };
        let args = RunArgs {
            goroutine: run.g,
            p: run.p,
            spawned_at: cached_site(&self.sites, spawn_site),
            parent,
            runnable_after: run.ready.map(|r| Text(Became(r.cause))),
            sched_latency_us: run
                .ready
                .filter(|_| run.started)
                .map(|r| (run.start - r.ts) as f64 / 1e3),
            inherited_time_slice: run.inherited,
            started_before_trace: !run.started,
            end: end_kind,
            wait_reason,
            wait_site: wait_site.map(|s| cached_site(&self.sites, s)),
        };
        self.name.clear();
        write!(self.name, "{}", Goroutine(self.t, run.g)).expect("to a String");
        self.stats.runs += 1;
        let args = (!self.opts.no_args).then_some(&args);
        self.w.complete(
            &self.name,
            "run",
            tid(Some(run.m)),
            start,
            end - start,
            args,
        )
    }

    fn instant(&mut self, e: &Event) -> io::Result<()> {
        let mut a = InstantArgs {
            p: e.p,
            ..InstantArgs::default()
        };
        let name = match e.kind {
            EventKind::Steal { victim, count } => {
                (a.victim, a.count) = (Some(victim), Some(count));
                "steal"
            }
            EventKind::NetpollWake {
                count,
                blocking_poll,
            } => {
                (a.count, a.blocking_poll) = (Some(count), Some(blocking_poll));
                "netpoll wake"
            }
            EventKind::TimerFire { count } => {
                a.count = Some(count);
                "timers fired"
            }
            EventKind::GlobalPull { count } => {
                a.count = Some(count);
                "global queue pull"
            }
            EventKind::Overflow { count } => {
                a.count = Some(count);
                "run queue overflow"
            }
            EventKind::PreemptRequest { g } => {
                a.goroutine = Some(g);
                "preempt request"
            }
            EventKind::Hog { g, ms } => {
                (a.goroutine, a.ms) = (Some(g), Some(ms));
                "hog"
            }
            EventKind::Handoff => "handoff",
            EventKind::BlockingEnter { g } => {
                a.goroutine = Some(g);
                "blocking enter"
            }
            EventKind::BlockingExit { g, how } => {
                a.goroutine = Some(g);
                a.how = Some(match how {
                    BlockingExit::SameP => "same P",
                    BlockingExit::OtherP => "other P",
                    BlockingExit::Requeued => "requeued",
                });
                "blocking exit"
            }
            _ => return Ok(()),
        };
        self.stats.instants += 1;
        self.w.instant(name, "sched", tid(e.m), e.ts, &a)
    }

    fn finish(mut self) -> io::Result<JsonStats> {
        self.stats.counters += self.counts.flush(&mut self.w)?;
        for (_, counter) in self.runq.values_mut() {
            self.stats.counters += counter.flush(&mut self.w)?;
        }
        // After the Ms (sort indexes are small numbers for JavaScript viewers).
        self.w.thread_name(tid(None), "threads/sysmon", 1 << 20)?;
        for (&m, ps) in &self.m_ps {
            let mut by_time: Vec<(Option<u32>, u64)> = ps.iter().map(|(&p, &ns)| (p, ns)).collect();
            by_time.sort_by_key(|&(p, ns)| (std::cmp::Reverse(ns), p));
            let ps: Vec<String> = by_time
                .iter()
                .map(|(p, _)| p.map_or_else(|| "no P".to_string(), |p| format!("P{p}")))
                .collect();
            let name = if ps.is_empty() {
                format!("M{m}")
            } else {
                format!("M{m} ({})", ps.join(", "))
            };
            self.w.thread_name(tid(Some(m)), &name, m as i64)?;
        }
        self.stats.json_events = self.w.events();
        self.w.finish()?;
        Ok(self.stats)
    }
}

//! Replaying a trace: the events, in time order, turned into what both tools talk
//! about: *runs* (a goroutine on an M from its GoStart to the event that ends it),
//! *readiness* (when and why a goroutine became runnable, for flow arrows and
//! scheduling latency), goroutine states and the time spent in each.
//!
//! [`Replay::step`] takes one event and says what it completed; [`Replay::finish`]
//! closes what the end of the trace leaves open. A trace begun mid-run
//! (`gort::trace::start`) has runs without a start and goroutines without a creation:
//! those are accepted quietly (the goroutine's state is `Unknown` until its first
//! event). Everything else that breaks the scheduler's rules is counted in
//! [`Replay::anomalies`] and worked around.

use gort::trace::{Event, EventKind, SiteId, Waker};
use gort::WaitReason;

use crate::anomaly::{Anomalies, Anomaly, Example};
use crate::idmap::IdMap;

/// Why a goroutine became runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// It was spawned by `parent` (0: a plain thread).
    Create {
        /// The spawning goroutine.
        parent: u64,
    },
    /// It was unparked.
    Unpark {
        /// Who woke it.
        by: Waker,
        /// The M that recorded the unpark (`None`: a plain thread, sysmon).
        m: Option<u32>,
        /// The waker's P.
        p: Option<u32>,
        /// The goroutine running on that M at the time, if any: the run the unpark
        /// happened in.
        in_run: Option<u64>,
    },
    /// It yielded.
    Yield,
    /// It yielded at a preemption request.
    Preempted,
    /// It came back from `blocking` without a P.
    Requeue,
}

/// When and why a goroutine became runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Time it became runnable (ns since the trace started).
    pub ts: u64,
    /// Why.
    pub cause: Cause,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// `yield_now`.
    Yield,
    /// A checkpoint honouring a preemption request.
    Preempted,
    /// It parked.
    Park {
        /// What it waits for.
        reason: WaitReason,
        /// Where (the wait site), if known.
        site: Option<SiteId>,
    },
    /// The goroutine finished.
    Done,
    /// Back from `blocking` without a P.
    Requeue,
    /// No end was recorded: another run started on the M (an anomaly).
    Lost,
    /// Still running when the trace ended.
    TraceEnd,
}

/// A goroutine's run on an M.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// The goroutine.
    pub g: u64,
    /// The M it ran on.
    pub m: u32,
    /// The P (from its GoStart, else from its end).
    pub p: Option<u32>,
    /// Start (ns); the trace start or the M's previous run end when `started` is false.
    pub start: u64,
    /// End (ns).
    pub end: u64,
    /// Whether its GoStart is in the trace.
    pub started: bool,
    /// Whether it took over its predecessor's time slice (`runnext`).
    pub inherited: bool,
    /// How it ended.
    pub how: RunEnd,
    /// What made the goroutine runnable before this run, if known.
    pub ready: Option<Ready>,
}

impl Run {
    /// Length in ns.
    pub fn duration(&self) -> u64 {
        self.end - self.start
    }
}

/// A run that began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// The goroutine.
    pub g: u64,
    /// The M.
    pub m: u32,
    /// The P.
    pub p: Option<u32>,
    /// When (ns).
    pub ts: u64,
    /// Goroutines in the P's local queue at that moment.
    pub runq: u32,
    /// What made it runnable, if known.
    pub ready: Option<Ready>,
}

/// What one event completed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// A run that ended (at a run-end event, or cut short by a GoStart).
    pub ended: Option<Run>,
    /// A run that began.
    pub started: Option<Start>,
}

/// What a goroutine is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    /// Nothing seen yet (or lost track after an anomaly).
    #[default]
    Unknown,
    /// Waiting for a P.
    Runnable,
    /// Running on M `m`.
    Running {
        /// The M.
        m: u32,
    },
    /// Parked.
    Parked,
    /// Finished.
    Done,
}

/// What the replay knows of one goroutine.
#[derive(Clone, Debug, Default)]
pub struct Goroutine {
    /// Current state.
    pub state: State,
    /// Since when (ns).
    pub since: u64,
    /// What made it runnable, while it is.
    pub ready: Option<Ready>,
    /// Whether its GoCreate is in the trace.
    pub created: bool,
    /// Its spawner (0: a plain thread), when created in the trace.
    pub parent: u64,
    /// Its spawn site, when created in the trace.
    pub site: Option<SiteId>,
    /// Time running (ns).
    pub run_ns: u64,
    /// Time runnable, waiting for a P (ns).
    pub runnable_ns: u64,
    /// Time parked (ns).
    pub parked_ns: u64,
    /// Runs.
    pub runs: u64,
}

impl Goroutine {
    /// Adds the time since `since` to the current state's total.
    fn book(&mut self, ts: u64) {
        let spent = ts.saturating_sub(self.since);
        match self.state {
            State::Runnable => self.runnable_ns += spent,
            State::Running { .. } => self.run_ns += spent,
            State::Parked => self.parked_ns += spent,
            State::Unknown | State::Done => {}
        }
        self.since = ts;
    }
}

#[derive(Clone, Copy, Debug)]
struct OpenRun {
    g: u64,
    p: Option<u32>,
    start: u64,
    started: bool,
    inherited: bool,
    ready: Option<Ready>,
}

#[derive(Clone, Copy, Debug, Default)]
struct MState {
    open: Option<OpenRun>,
    /// End of its last run: where a run without a GoStart is taken to begin.
    last_end: u64,
    /// The goroutine whose run ended `done` last on this M, until the M starts another:
    /// the runtime records `GoDone` before the goroutine delivers its result, so the
    /// unpark of its joiner comes just after, still from this goroutine.
    finishing: Option<u64>,
}

/// The replay state.
#[derive(Debug, Default)]
pub struct Replay {
    gs: IdMap<Goroutine>,
    ms: IdMap<MState>,
    /// Goroutines runnable now.
    pub runnable: u64,
    /// Goroutines running now.
    pub running: u64,
    /// Inconsistencies met so far.
    pub anomalies: Anomalies,
    last_ts: u64,
}

impl Replay {
    /// A replay at the start of a trace.
    pub fn new() -> Replay {
        Replay::default()
    }

    /// What is known of goroutine `g`.
    pub fn goroutine(&self, g: u64) -> Option<&Goroutine> {
        self.gs.get(g)
    }

    /// Every goroutine seen, with its id.
    pub fn goroutines(&self) -> impl Iterator<Item = (u64, &Goroutine)> {
        self.gs.iter()
    }

    /// The goroutine running on M `m`, if any.
    pub fn running_on(&self, m: u32) -> Option<u64> {
        self.ms.get(m as u64)?.open.map(|r| r.g)
    }

    fn anomaly(&mut self, a: Anomaly, e: &Event, g: u64) {
        let ex = Example {
            ts: e.ts,
            g,
            m: e.m,
        };
        self.anomalies.note(a, ex);
    }

    /// Moves `g` to `to` at `ts`, accounting the time spent in its previous state and
    /// keeping the runnable/running counts.
    fn set_state(&mut self, g: u64, to: State, ts: u64) {
        let gs = self.gs.entry(g);
        gs.book(ts);
        match gs.state {
            State::Runnable => self.runnable -= 1,
            State::Running { .. } => self.running -= 1,
            _ => {}
        }
        match to {
            State::Runnable => self.runnable += 1,
            State::Running { .. } => {
                self.running += 1;
                gs.runs += 1;
            }
            _ => {}
        }
        if to != State::Runnable {
            gs.ready = None;
        }
        gs.state = to;
    }

    /// Makes `g` runnable, keeping the earliest reason if it already was.
    fn make_ready(&mut self, g: u64, ready: Ready) {
        if self.gs.entry(g).state == State::Runnable {
            return;
        }
        self.set_state(g, State::Runnable, ready.ts);
        self.gs.entry(g).ready = Some(ready);
    }

    /// Closes the open run of M `m`, if any.
    fn close(&mut self, m: u32, end: u64, how: RunEnd) -> Option<Run> {
        let ms = self.ms.entry(m as u64);
        let open = ms.open.take()?;
        ms.last_end = end;
        ms.finishing = matches!(how, RunEnd::Done).then_some(open.g);
        Some(Run {
            g: open.g,
            m,
            p: open.p,
            start: open.start,
            end,
            started: open.started,
            inherited: open.inherited,
            how,
            ready: open.ready,
        })
    }

    /// Takes one event (in the trace's time order).
    pub fn step(&mut self, e: &Event) -> Step {
        self.last_ts = self.last_ts.max(e.ts);
        match e.kind {
            EventKind::GoCreate { g, parent, site } => {
                let gs = self.gs.entry(g);
                let seen = gs.created || gs.state != State::Unknown;
                gs.created = true;
                gs.parent = parent;
                gs.site = Some(site);
                if seen {
                    self.anomaly(Anomaly::LateCreate, e, g);
                } else {
                    let cause = Cause::Create { parent };
                    self.make_ready(g, Ready { ts: e.ts, cause });
                }
                Step::default()
            }
            EventKind::GoStart { g, runq, inherited } => self.start(e, g, runq, inherited),
            EventKind::GoYield { g } => self.end(e, g, RunEnd::Yield),
            EventKind::GoPreempted { g } => self.end(e, g, RunEnd::Preempted),
            EventKind::GoRequeue { g } => self.end(e, g, RunEnd::Requeue),
            EventKind::GoDone { g } => self.end(e, g, RunEnd::Done),
            EventKind::GoPark { g, reason, site } => self.end(e, g, RunEnd::Park { reason, site }),
            EventKind::GoUnpark { g, by } => {
                self.unpark(e, g, by);
                Step::default()
            }
            _ => Step::default(),
        }
    }

    fn start(&mut self, e: &Event, g: u64, runq: u32, inherited: bool) -> Step {
        let Some(m) = e.m else {
            self.anomaly(Anomaly::RunOffM, e, g);
            return Step::default();
        };
        let mut ended = None;
        if let Some(prev) = self.close(m, e.ts, RunEnd::Lost) {
            self.anomaly(Anomaly::StartOverOpenRun, e, prev.g);
            self.set_state(prev.g, State::Unknown, e.ts);
            ended = Some(prev);
        }
        let gs = self.gs.entry(g);
        let ready = gs.ready;
        match gs.state {
            State::Runnable | State::Unknown => {}
            State::Running { m: other } => {
                self.anomaly(Anomaly::StartWhileRunning, e, g);
                // One goroutine runs on one M: forget the other run.
                self.ms.entry(other as u64).open = None;
            }
            State::Parked => self.anomaly(Anomaly::StartWhileParked, e, g),
            State::Done => self.anomaly(Anomaly::AfterDone, e, g),
        }
        self.set_state(g, State::Running { m }, e.ts);
        self.ms.entry(m as u64).open = Some(OpenRun {
            g,
            p: e.p,
            start: e.ts,
            started: true,
            inherited,
            ready,
        });
        Step {
            ended,
            started: Some(Start {
                g,
                m,
                p: e.p,
                ts: e.ts,
                runq,
                ready,
            }),
        }
    }

    fn end(&mut self, e: &Event, g: u64, how: RunEnd) -> Step {
        let Some(m) = e.m else {
            self.anomaly(Anomaly::RunOffM, e, g);
            return Step::default();
        };
        // A run already going when the trace started.
        self.running_since_before_trace(g, m, e.p);
        let state = self.gs.entry(g).state;
        let ended = if self.running_on(m) == Some(g) {
            self.close(m, e.ts, how)
        } else {
            self.anomaly(Anomaly::EndWithoutStart, e, g);
            None
        };
        if state == State::Done {
            self.anomaly(Anomaly::AfterDone, e, g);
        }
        let ready = |cause| Ready { ts: e.ts, cause };
        match how {
            RunEnd::Yield => self.make_ready(g, ready(Cause::Yield)),
            RunEnd::Preempted => self.make_ready(g, ready(Cause::Preempted)),
            RunEnd::Requeue => self.make_ready(g, ready(Cause::Requeue)),
            RunEnd::Park { .. } => self.set_state(g, State::Parked, e.ts),
            RunEnd::Done => self.set_state(g, State::Done, e.ts),
            RunEnd::Lost | RunEnd::TraceEnd => unreachable!("not an event"),
        }
        Step {
            ended,
            started: None,
        }
    }

    fn unpark(&mut self, e: &Event, g: u64, by: Waker) {
        if let (Waker::Goroutine(w), Some(m)) = (by, e.m) {
            self.running_since_before_trace(w, m, e.p);
        }
        let in_run = e.m.and_then(|m| self.running_on(m));
        if let Waker::Goroutine(w) = by {
            let finishing = e.m.and_then(|m| self.ms.entry(m as u64).finishing);
            if in_run != Some(w) && !(in_run.is_none() && finishing == Some(w)) {
                self.anomaly(Anomaly::WakerNotRunning, e, w);
            }
        }
        match self.gs.entry(g).state {
            State::Parked | State::Unknown => {
                let cause = Cause::Unpark {
                    by,
                    m: e.m,
                    p: e.p,
                    in_run,
                };
                self.make_ready(g, Ready { ts: e.ts, cause });
            }
            State::Runnable | State::Running { .. } => self.anomaly(Anomaly::UnparkNotParked, e, g),
            State::Done => self.anomaly(Anomaly::AfterDone, e, g),
        }
    }

    /// An event shows `g` running on M `m`: if nothing is known of `g` and `m` runs
    /// nothing, `g` has been running there since before the trace started (or since
    /// the M's previous run ended).
    fn running_since_before_trace(&mut self, g: u64, m: u32, p: Option<u32>) {
        let ms = self.ms.entry(m as u64);
        if ms.open.is_some() || self.gs.entry(g).state != State::Unknown {
            return;
        }
        let start = ms.last_end;
        ms.open = Some(OpenRun {
            g,
            p,
            start,
            started: false,
            inherited: false,
            ready: None,
        });
        self.set_state(g, State::Running { m }, start);
    }

    /// Ends the replay at `end` (ns; at least the last event's time): the runs still
    /// going, in M order, and the time of every goroutine's current state.
    pub fn finish(&mut self, end: u64) -> Vec<Run> {
        let end = end.max(self.last_ts);
        let ms: Vec<u64> = self.ms.iter().map(|(m, _)| m).collect();
        let runs = ms
            .into_iter()
            .filter_map(|m| self.close(m as u32, end, RunEnd::TraceEnd))
            .collect();
        for gs in self.gs.values_mut() {
            gs.book(end);
        }
        runs
    }

    /// The time of the latest event taken.
    pub fn last_ts(&self) -> u64 {
        self.last_ts
    }
}

#[cfg(test)]
mod tests {
    use gort::trace::{Event, EventKind, SiteId, Waker};
    use gort::WaitReason;

    use super::{Replay, RunEnd, State};
    use crate::anomaly::Anomaly;

    fn ev(ts: u64, m: Option<u32>, kind: EventKind) -> Event {
        Event { ts, m, p: m, kind }
    }

    fn park(g: u64) -> EventKind {
        EventKind::GoPark {
            g,
            reason: WaitReason::ChanRecv,
            site: None,
        }
    }

    fn replay(events: &[Event]) -> (Replay, Vec<super::Run>) {
        let mut r = Replay::new();
        let mut runs = Vec::new();
        for e in events {
            let step = r.step(e);
            runs.extend(step.ended);
        }
        runs.extend(r.finish(events.last().map_or(0, |e| e.ts)));
        (r, runs)
    }

    #[test]
    fn a_goroutine_life_gives_runs_states_and_times() {
        use EventKind::*;
        let (r, runs) = replay(&[
            ev(
                10,
                Some(0),
                GoCreate {
                    g: 2,
                    parent: 1,
                    site: SiteId(7),
                },
            ),
            ev(
                15,
                Some(0),
                GoStart {
                    g: 2,
                    runq: 0,
                    inherited: false,
                },
            ),
            ev(20, Some(0), park(2)),
            ev(
                50,
                Some(1),
                GoUnpark {
                    g: 2,
                    by: Waker::Timer,
                },
            ),
            ev(
                60,
                Some(1),
                GoStart {
                    g: 2,
                    runq: 3,
                    inherited: true,
                },
            ),
            ev(90, Some(1), GoDone { g: 2 }),
        ]);
        assert_eq!(r.anomalies.total(), 0);
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].m, runs[0].start, runs[0].end), (0, 15, 20));
        assert!(matches!(runs[0].how, RunEnd::Park { .. }));
        assert_eq!((runs[1].m, runs[1].start, runs[1].end), (1, 60, 90));
        assert_eq!(runs[1].ready.unwrap().ts, 50);
        let g = r.goroutine(2).unwrap();
        assert_eq!(g.state, State::Done);
        assert_eq!((g.run_ns, g.runnable_ns, g.parked_ns), (35, 15, 30));
        assert_eq!((r.runnable, r.running), (0, 0));
    }

    #[test]
    fn a_trace_begun_mid_run_is_not_an_anomaly() {
        use EventKind::*;
        // g3 was running on M0 and g4 parked when the trace started.
        let (r, runs) = replay(&[
            ev(
                5,
                Some(0),
                GoUnpark {
                    g: 4,
                    by: Waker::Goroutine(3),
                },
            ),
            ev(8, Some(0), GoDone { g: 3 }),
            ev(
                9,
                Some(0),
                GoStart {
                    g: 4,
                    runq: 0,
                    inherited: false,
                },
            ),
        ]);
        assert_eq!(r.anomalies.total(), 0, "{}", r.anomalies);
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].g, runs[0].start, runs[0].end), (3, 0, 8));
        assert!(!runs[0].started);
        assert_eq!((runs[1].g, runs[1].how), (4, RunEnd::TraceEnd));
    }

    #[test]
    fn a_goroutine_that_just_ended_done_may_still_wake_its_joiner() {
        use EventKind::*;
        let start = |g| GoStart {
            g,
            runq: 0,
            inherited: false,
        };
        let wake = |g, w| GoUnpark {
            g,
            by: Waker::Goroutine(w),
        };
        let (r, _) = replay(&[
            ev(0, Some(0), start(1)),
            ev(1, Some(0), park(1)),
            ev(2, Some(0), start(2)),
            ev(3, Some(0), GoDone { g: 2 }),
            ev(4, Some(0), wake(1, 2)), // after its GoDone, before the M runs another
            ev(5, Some(0), start(1)),
            ev(6, Some(0), park(1)),
            ev(7, Some(0), wake(1, 2)), // not any more
        ]);
        assert_eq!(
            r.anomalies.count(Anomaly::WakerNotRunning),
            1,
            "{}",
            r.anomalies
        );
        assert_eq!(r.anomalies.total(), 1, "{}", r.anomalies);
    }

    #[test]
    fn rule_breaking_events_are_counted() {
        use EventKind::*;
        let create = |g| GoCreate {
            g,
            parent: 1,
            site: SiteId(7),
        };
        let start = |g| GoStart {
            g,
            runq: 0,
            inherited: false,
        };
        let (r, _) = replay(&[
            ev(0, Some(0), create(9)), // known, and never running
            ev(1, Some(0), create(2)),
            ev(2, Some(0), create(2)),
            ev(3, Some(0), start(2)),
            ev(4, Some(1), start(2)),
            ev(
                5,
                Some(0),
                GoUnpark {
                    g: 2,
                    by: Waker::Goroutine(9),
                },
            ),
            ev(6, Some(1), park(2)),
            ev(7, Some(1), start(2)),
            ev(8, Some(1), start(5)),
            ev(9, Some(0), GoYield { g: 5 }),
            ev(10, None, GoDone { g: 5 }),
        ]);
        let a = &r.anomalies;
        assert_eq!(a.count(Anomaly::LateCreate), 1);
        assert_eq!(a.count(Anomaly::StartWhileRunning), 1);
        assert_eq!(a.count(Anomaly::WakerNotRunning), 1);
        assert_eq!(a.count(Anomaly::UnparkNotParked), 1);
        assert_eq!(a.count(Anomaly::StartWhileParked), 1);
        assert_eq!(a.count(Anomaly::StartOverOpenRun), 1);
        assert_eq!(a.count(Anomaly::EndWithoutStart), 1);
        assert_eq!(a.count(Anomaly::RunOffM), 1);
        assert_eq!(a.total(), 8);
    }
}

//! Shared by the gort-trace tests: tracing a small program in-process, and reading
//! the JSON back.

#![allow(dead_code)] // each test file uses its own part

use std::collections::HashMap;
use std::path::PathBuf;

use gort::trace::{EventKind, Trace};
use serde_json::Value;

/// A path in the temporary directory, unique to this test process and `name`.
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("gort-tools-{}-{name}", std::process::id()))
}

/// Runs `f` as the main goroutine of a `procs`-P runtime that traces its whole life;
/// returns `f`'s value and the trace file.
pub fn traced<T: Send + 'static>(
    name: &str,
    procs: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> (T, PathBuf) {
    let path = temp_path(name);
    let rt = gort::Runtime::builder()
        .procs(procs)
        .hog_warning(false)
        .trace(&path)
        .build()
        .unwrap();
    let v = rt.block_on(f);
    drop(rt); // finishes the trace file
    (v, path)
}

/// The id of the goroutine named `name` in `t`.
pub fn goroutine_named(t: &Trace, name: &str) -> u64 {
    t.events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::GoCreate { g, .. } if t.name(g) == Some(name) => Some(g),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no goroutine named {name}"))
}

/// A JSON trace event, the fields the tests look at.
#[derive(Clone, Debug)]
pub struct JEvent {
    pub name: String,
    pub ph: String,
    pub cat: String,
    /// µs.
    pub ts: f64,
    /// µs, slices only.
    pub dur: f64,
    pub tid: u64,
    pub id: Option<u64>,
    pub args: Value,
    pub raw: Value,
}

impl JEvent {
    pub fn end(&self) -> f64 {
        self.ts + self.dur
    }

    pub fn arg_u64(&self, key: &str) -> Option<u64> {
        self.args.get(key).and_then(Value::as_u64)
    }

    pub fn arg_str(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }
}

/// Parses Chrome trace JSON, checking its outer shape.
pub fn parse_json(bytes: &[u8]) -> Vec<JEvent> {
    let v: Value = serde_json::from_slice(bytes).expect("the output is JSON");
    assert_eq!(v["displayTimeUnit"], "ns");
    let evs = v["traceEvents"].as_array().expect("a traceEvents array");
    evs.iter()
        .map(|e| {
            assert_eq!(e["pid"], 1, "one process: {e}");
            JEvent {
                name: e["name"].as_str().expect("every event has a name").into(),
                ph: e["ph"].as_str().expect("every event has a phase").into(),
                cat: e["cat"].as_str().unwrap_or("").into(),
                ts: e["ts"].as_f64().expect("every event has a ts"),
                dur: e["dur"].as_f64().unwrap_or(0.0),
                tid: e["tid"].as_u64().expect("every event has a tid"),
                id: e["id"].as_u64(),
                args: e["args"].clone(),
                raw: e.clone(),
            }
        })
        .collect()
}

/// Track names by tid, from the `thread_name` metadata.
pub fn track_names(evs: &[JEvent]) -> HashMap<u64, String> {
    evs.iter()
        .filter(|e| e.ph == "M" && e.name == "thread_name")
        .map(|e| (e.tid, e.arg_str("name").unwrap().to_string()))
        .collect()
}

/// The run slices ("X", cat "run").
pub fn runs(evs: &[JEvent]) -> Vec<&JEvent> {
    evs.iter()
        .filter(|e| e.ph == "X" && e.cat == "run")
        .collect()
}

/// Timestamps are µs with ns digits: allow for their rounding.
pub const EPS: f64 = 0.0015;

/// The slices of each track, sorted by start, to find the one enclosing a time.
pub struct Slices<'a> {
    by_track: HashMap<u64, Vec<&'a JEvent>>,
}

impl<'a> Slices<'a> {
    pub fn new(evs: &'a [JEvent]) -> Self {
        let mut by_track: HashMap<u64, Vec<&JEvent>> = HashMap::new();
        for e in evs.iter().filter(|e| e.ph == "X") {
            by_track.entry(e.tid).or_default().push(e);
        }
        for v in by_track.values_mut() {
            v.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        }
        Slices { by_track }
    }

    /// Each track's slices, by start.
    pub fn tracks(&self) -> impl Iterator<Item = (u64, &[&'a JEvent])> {
        self.by_track.iter().map(|(&t, v)| (t, v.as_slice()))
    }

    /// The slice on track `tid` enclosing `ts`: of slices that touch at `ts`, the one
    /// starting there.
    pub fn at(&self, tid: u64, ts: f64) -> Option<&'a JEvent> {
        let v = self.by_track.get(&tid)?;
        let n = v.partition_point(|e| e.ts <= ts + EPS);
        let e = *v.get(n.checked_sub(1)?)?;
        (ts <= e.end() + EPS).then_some(e)
    }
}

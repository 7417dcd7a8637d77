//! A streaming writer of the Chrome Trace Event format (the JSON object form,
//! `{"traceEvents":[...]}`), which Perfetto, chrome://tracing and speedscope open.
//!
//! Events are serialized one at a time into a buffered writer, so a trace of millions
//! of events never sits in memory as JSON. Times are given in ns and written in µs
//! (floats), as the format wants.

use std::io::{self, BufWriter, Write};

use serde::Serialize;

/// The one process every event belongs to.
pub const PID: u32 = 1;

#[derive(Serialize)]
struct Ev<'a, A> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    cat: &'a str,
    ph: &'static str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    tid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    /// Flow ends bind to the slice enclosing them ("e"), not the next one.
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    /// Scope of an instant: "t", the thread's track.
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<A>,
}

#[derive(Serialize)]
struct NameArg<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct SortArg {
    sort_index: i64,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

/// Writes one trace's events; [`finish`](Self::finish) closes the JSON.
pub struct ChromeWriter<W: Write> {
    out: BufWriter<W>,
    events: u64,
}

impl<W: Write> ChromeWriter<W> {
    /// Starts the JSON object on `out`.
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, out);
        out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
        Ok(ChromeWriter { out, events: 0 })
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn write<A: Serialize>(&mut self, ev: &Ev<'_, A>) -> io::Result<()> {
        if self.events > 0 {
            self.out.write_all(b",\n")?;
        }
        self.events += 1;
        serde_json::to_writer(&mut self.out, ev).map_err(io::Error::from)
    }

    fn ev<'a, A>(name: &'a str, cat: &'a str, ph: &'static str, tid: u32, ts: u64) -> Ev<'a, A> {
        Ev {
            name,
            cat,
            ph,
            ts: us(ts),
            dur: None,
            pid: PID,
            tid,
            id: None,
            bp: None,
            s: None,
            args: None,
        }
    }

    /// Names the process.
    pub fn process_name(&mut self, name: &str) -> io::Result<()> {
        let mut e = Self::ev("process_name", "", "M", 0, 0);
        e.args = Some(NameArg { name });
        self.write(&e)
    }

    /// Names track `tid` and sets its place among the tracks.
    pub fn thread_name(&mut self, tid: u32, name: &str, sort_index: i64) -> io::Result<()> {
        let mut e = Self::ev("thread_name", "", "M", tid, 0);
        e.args = Some(NameArg { name });
        self.write(&e)?;
        let mut e = Self::ev("thread_sort_index", "", "M", tid, 0);
        e.args = Some(SortArg { sort_index });
        self.write(&e)
    }

    /// A slice ("X") on track `tid` from `start` for `dur` ns.
    pub fn complete<A: Serialize>(
        &mut self,
        name: &str,
        cat: &str,
        tid: u32,
        start: u64,
        dur: u64,
        args: Option<&A>,
    ) -> io::Result<()> {
        let mut e = Self::ev(name, cat, "X", tid, start);
        e.dur = Some(us(dur));
        e.args = args;
        self.write(&e)
    }

    /// An instant ("i") on track `tid`.
    pub fn instant<A: Serialize>(
        &mut self,
        name: &str,
        cat: &str,
        tid: u32,
        ts: u64,
        args: &A,
    ) -> io::Result<()> {
        let mut e = Self::ev(name, cat, "i", tid, ts);
        e.s = Some("t");
        e.args = Some(args);
        self.write(&e)
    }

    /// A flow arrow `id` from the slice enclosing `from_ts` on `from_tid` to the slice
    /// enclosing `to_ts` on `to_tid`.
    #[allow(clippy::too_many_arguments)]
    pub fn flow(
        &mut self,
        name: &str,
        cat: &str,
        id: u64,
        from_tid: u32,
        from_ts: u64,
        to_tid: u32,
        to_ts: u64,
    ) -> io::Result<()> {
        let mut s = Self::ev::<()>(name, cat, "s", from_tid, from_ts);
        s.id = Some(id);
        self.write(&s)?;
        let mut f = Self::ev::<()>(name, cat, "f", to_tid, to_ts);
        f.id = Some(id);
        f.bp = Some("e");
        self.write(&f)
    }

    /// A counter sample ("C"): each field of `values` is one series of counter `name`.
    pub fn counter<A: Serialize>(&mut self, name: &str, ts: u64, values: &A) -> io::Result<()> {
        let mut e = Self::ev(name, "", "C", 0, ts);
        e.args = Some(values);
        self.write(&e)
    }

    /// Closes the JSON and flushes; gives back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"\n]}\n")?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

//! The writer thread: turns chunks of records into the file format of `format.rs`,
//! naming each code location the first time a record refers to it.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::panic::Location;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use parking_lot::Mutex;

use super::format::{self, kind, record_words};
use super::recorder::Chunk;

/// What a finished trace holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// Events written.
    pub events: u64,
    /// Bytes written, the header included.
    pub bytes: u64,
}

pub(crate) struct Writer {
    out: BufWriter<std::fs::File>,
    /// The clocks at the start, so the END block can give the tick rate over the
    /// whole trace (more exact than the process's 2 ms calibration).
    start: (u64, std::time::Instant),
    /// In simulation: the virtual clock, and the latest timestamp written (the END's).
    virtual_clock: Option<u64>,
    sites: HashSet<u64>,
    stats: TraceStats,
}

impl Writer {
    /// A writer with a header; `virtual_start`: a simulation's trace, whose ticks are
    /// virtual nanoseconds from there (and whose header holds nothing of the wall clock,
    /// so equal schedules give equal files).
    pub(crate) fn new(
        file: std::fs::File,
        procs: usize,
        virtual_start: Option<u64>,
    ) -> io::Result<Writer> {
        let mut w = Writer {
            out: BufWriter::with_capacity(1 << 20, file),
            start: (
                virtual_start.unwrap_or_else(gort_asm::ticks),
                std::time::Instant::now(),
            ),
            virtual_clock: virtual_start,
            sites: HashSet::new(),
            stats: TraceStats::default(),
        };
        let (ns_per_tick, unix_ns) = match virtual_start {
            Some(_) => (1.0, 0),
            None => (
                gort_asm::ticks_to_ns(1 << 30) as f64 / (1u64 << 30) as f64,
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
            ),
        };
        w.words(&[
            format::MAGIC,
            format::VERSION | (procs as u64) << 32,
            ns_per_tick.to_bits(),
            w.start.0,
            unix_ns,
            0,
        ])?;
        Ok(w)
    }

    fn words(&mut self, ws: &[u64]) -> io::Result<()> {
        for w in ws {
            self.out.write_all(&w.to_le_bytes())?;
        }
        self.stats.bytes += 8 * ws.len() as u64;
        Ok(())
    }

    fn block(&mut self, tag: u64, m: u64, payload: &[u64]) -> io::Result<()> {
        self.words(&[tag | (payload.len() as u64) << 8 | m << 40])?;
        self.words(payload)
    }

    /// Writes one chunk, preceded by the sites it names for the first time.
    pub(crate) fn chunk(&mut self, c: &Chunk) -> io::Result<()> {
        let mut i = 0;
        while i + 1 < c.words.len() {
            let w1 = c.words[i + 1];
            let Some(n) = record_words(w1) else { break };
            let site = match w1 as u8 {
                kind::GO_CREATE => c.words[i + 4],
                kind::GO_PARK => c.words[i + 3],
                _ => 0,
            };
            if site != 0 && self.sites.insert(site) {
                self.site(site)?;
            }
            if w1 as u8 != kind::GO_NAME {
                self.stats.events += 1;
            }
            if let Some(latest) = &mut self.virtual_clock {
                *latest = (*latest).max(c.words[i]);
            }
            i += n;
        }
        self.block(format::BLOCK_EVENTS, c.m, &c.words)
    }

    fn site(&mut self, key: u64) -> io::Result<()> {
        // SAFETY: site keys are only ever made from `&'static Location<'static>`
        // (`points.rs`), which live for the whole program.
        let loc: &Location<'static> = unsafe { &*(key as usize as *const Location<'static>) };
        let file = loc.file().as_bytes();
        let mut payload = vec![key, (loc.line() as u64) << 32 | loc.column() as u64];
        payload.push(file.len() as u64);
        payload.extend(file.chunks(8).map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        }));
        self.block(format::BLOCK_SITE, format::NO_M, &payload)
    }

    /// Writes the END block (with both clocks' readings now) and flushes.
    pub(crate) fn finish(mut self) -> io::Result<TraceStats> {
        let events = self.stats.events;
        let (ticks, ns) = match self.virtual_clock {
            Some(latest) => (latest, latest - self.start.0),
            None => (gort_asm::ticks(), self.start.1.elapsed().as_nanos() as u64),
        };
        self.block(format::BLOCK_END, format::NO_M, &[events, 0, ticks, ns])?;
        self.out.flush()?;
        Ok(self.stats)
    }
}

/// The writer thread's body: writes chunks until every sender is gone. After a write
/// error it keeps draining (so recording never blocks) and reports the error at the end.
pub(crate) fn run(
    mut w: Writer,
    rx: Receiver<Chunk>,
    pool: Arc<Mutex<Vec<Vec<u64>>>>,
) -> io::Result<TraceStats> {
    let mut err = None;
    for mut c in rx {
        if err.is_none() {
            if let Err(e) = w.chunk(&c) {
                err = Some(e);
            }
        }
        c.words.clear();
        let mut p = pool.lock();
        if p.len() < 64 {
            p.push(c.words);
        }
    }
    match err {
        Some(e) => Err(e),
        None => w.finish(),
    }
}

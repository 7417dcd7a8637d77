//! A counter track of the JSON ("C" samples), thinned so a busy trace does not drown
//! in samples: a scheduler changes its goroutine counts several times a microsecond,
//! and a sample per change made most of the JSON for skynet (7 of 11 million events).
//!
//! A change less than [`RESOLUTION_NS`] after the pending sample's time replaces that
//! sample's value (the sample keeps its time). The value shown is then at most that
//! much late, and excursions shorter than it may not show; the runs themselves are
//! still exact.

use std::io::{self, Write};

use serde::Serialize;

use crate::chrome::ChromeWriter;

/// Samples of one counter are at least this far apart (ns).
pub const RESOLUTION_NS: u64 = 1_000;

/// One counter track.
#[derive(Debug)]
pub struct Counter<V> {
    name: String,
    pending: Option<(u64, V)>,
    written: Option<V>,
}

impl<V: Serialize + Copy + PartialEq> Counter<V> {
    /// A counter named `name` with no samples yet.
    pub fn new(name: String) -> Self {
        Counter {
            name,
            pending: None,
            written: None,
        }
    }

    /// The counter is `v` from `ts` on. Returns the samples written (0 or 1).
    pub fn set<W: Write>(&mut self, w: &mut ChromeWriter<W>, ts: u64, v: V) -> io::Result<u64> {
        match self.pending {
            Some((_, cur)) if cur == v => Ok(0),
            Some((at, _)) if ts < at + RESOLUTION_NS => {
                self.pending = Some((at, v));
                Ok(0)
            }
            _ => {
                let n = self.flush(w)?;
                if self.pending.is_none() && self.written == Some(v) {
                    return Ok(n);
                }
                self.pending = Some((ts, v));
                Ok(n)
            }
        }
    }

    /// Writes the pending sample, if it changes the value. Returns the samples written.
    pub fn flush<W: Write>(&mut self, w: &mut ChromeWriter<W>) -> io::Result<u64> {
        let Some((ts, v)) = self.pending.take() else {
            return Ok(0);
        };
        if self.written == Some(v) {
            return Ok(0);
        }
        self.written = Some(v);
        w.counter(&self.name, ts, &v)?;
        Ok(1)
    }
}

//! Recording: per-M buffers of fixed-size records, filled without a lock and handed in
//! 64 KiB chunks to the writer thread (`writer.rs`).
//!
//! Each M owns an [`MTrace`]; only its thread appends to it. Stopping a trace must take
//! what every M has buffered without racing with an append, and without a lock on the
//! append path: the two sides meet through a sequence counter and the `on` flag
//! (`seqbuf.rs`, model-checked with loom). Records of plain threads and sysmon, which
//! are rare, go to one buffer under a mutex.

use std::sync::mpsc::Sender;
use std::sync::Arc;

use parking_lot::Mutex;

use super::format::NO_M;
use super::seqbuf::SeqBuf;
use crate::context::{self, MContext};
use crate::loom::{AtomicBool, Ordering::*};
use crate::sched::Sched;

/// Words per chunk handed to the writer (64 KiB).
pub(crate) const CHUNK_WORDS: usize = 8192;

/// A full (or final) buffer on its way to the writer.
pub(crate) struct Chunk {
    pub(crate) m: u64,
    pub(crate) words: Vec<u64>,
}

/// One runtime's trace state.
pub(crate) struct TraceState {
    /// Whether a trace is being recorded: the one load every trace point makes.
    pub(crate) on: AtomicBool,
    /// Where full chunks go while a trace runs.
    pub(crate) tx: Mutex<Option<Sender<Chunk>>>,
    /// Emptied chunks the writer gives back, so a long trace reuses its buffers.
    pub(crate) pool: Arc<Mutex<Vec<Vec<u64>>>>,
    /// Every M's buffer, for `stop` to collect.
    pub(crate) ms: Mutex<Vec<Arc<MTrace>>>,
    /// Records made off the Ms.
    pub(crate) shared: Mutex<Vec<u64>>,
    /// The running trace (start and stop take this lock for their whole length).
    pub(crate) session: Mutex<Option<super::Session>>,
}

impl TraceState {
    pub(crate) fn new() -> Self {
        TraceState {
            on: AtomicBool::new(false),
            tx: Mutex::new(None),
            pool: Arc::new(Mutex::new(Vec::new())),
            ms: Mutex::new(Vec::new()),
            shared: Mutex::new(Vec::new()),
            session: Mutex::new(None),
        }
    }

    /// Appends a record made by a thread that is not one of this runtime's Ms.
    fn append_shared(&self, rec: &[u64]) {
        let mut b = self.shared.lock();
        if !self.on.load(SeqCst) {
            return;
        }
        if b.len() + rec.len() > CHUNK_WORDS {
            let words = std::mem::replace(&mut *b, self.fresh());
            self.send(Chunk { m: NO_M, words });
        }
        b.extend_from_slice(rec);
    }

    fn fresh(&self) -> Vec<u64> {
        self.pool
            .lock()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK_WORDS))
    }

    pub(crate) fn send(&self, chunk: Chunk) {
        if chunk.words.is_empty() {
            return;
        }
        if let Some(tx) = &*self.tx.lock() {
            // The writer only goes away after `stop` dropped the sender.
            let _ = tx.send(chunk);
        }
    }

    /// Takes every buffered record (`stop`, after `on` was cleared).
    pub(crate) fn collect(&self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let mut ms = self.ms.lock();
        for mt in ms.iter() {
            // `on` is false and stays so until `stop` returns (the session lock).
            let words = mt.buf.take();
            out.push(Chunk { m: mt.m, words });
        }
        // Ms that have exited leave nothing behind.
        ms.retain(|mt| Arc::strong_count(mt) > 1);
        out.push(Chunk {
            m: NO_M,
            words: std::mem::take(&mut *self.shared.lock()),
        });
        out
    }
}

/// An M's trace buffer.
pub(crate) struct MTrace {
    m: u64,
    buf: SeqBuf,
}

impl MTrace {
    /// A buffer for M `m`, registered with its runtime.
    pub(crate) fn register(s: &Sched, m: usize) -> Arc<MTrace> {
        let mt = Arc::new(MTrace {
            m: m as u64,
            buf: SeqBuf::new(),
        });
        let mut ms = s.trace.ms.lock();
        // Drop the buffers of Ms that have exited with nothing left to write, so a
        // runtime whose extra Ms come and go does not accumulate them.
        ms.retain(|old| Arc::strong_count(old) > 1 || !old.is_empty_after_exit());
        ms.push(mt.clone());
        mt
    }

    /// Whether the buffer of an M that has exited (no other reference) is empty.
    fn is_empty_after_exit(&self) -> bool {
        // Pairs with the release of the M's drop of its reference (as `Arc::get_mut`).
        std::sync::atomic::fence(Acquire);
        self.buf.is_empty_unowned()
    }

    /// Appends a record (owner thread only).
    fn append(&self, st: &TraceState, rec: &[u64]) {
        self.buf.append(&st.on, |b| {
            if b.capacity() == 0 || b.len() + rec.len() > CHUNK_WORDS {
                let words = std::mem::replace(b, st.fresh());
                st.send(Chunk { m: self.m, words });
            }
            b.extend_from_slice(rec);
        });
    }
}

/// Appends a record made on `ctx`'s M.
#[inline]
pub(crate) fn emit_on(ctx: &MContext, rec: &[u64]) {
    ctx.trace.append(&ctx.sched.trace, rec);
}

/// Appends a record made by the calling thread, whichever it is.
pub(crate) fn emit(s: &Sched, rec: &[u64]) {
    let ctx = context::current();
    if !ctx.is_null() {
        // SAFETY: a non-null current() is this M's live context.
        let ctx = unsafe { &*ctx };
        if std::ptr::eq(&*ctx.sched, s) {
            return emit_on(ctx, rec);
        }
    }
    s.trace.append_shared(rec);
}

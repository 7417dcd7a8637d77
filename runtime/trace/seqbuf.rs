//! A buffer with one writer (its M) that another thread can take once recording is
//! switched off, with no lock on the writer's path.
//!
//! ```text
//! append (owner)                        take (stopper)
//! seq += 1 (odd: inside)                on = false                       (caller)
//! fence(SeqCst)                         fence(SeqCst)
//! if on { write the buffer }            wait until seq is even   Acquire
//! seq += 1 (even)          Release      take the buffer
//! ```
//!
//! The two SeqCst fences are ordered one way or the other. If the owner's comes first,
//! the stopper's read of `seq` sees the odd value (or a later one) and waits for the
//! release that ends the append, which orders the owner's writes before the take. If
//! the stopper's comes first, the owner's read of `on` sees `false` and it writes
//! nothing. Either way the buffer has one user at a time. (Fences rather than SeqCst
//! accesses: loom models the former exactly, and this is the classic pattern for them.)

use crate::loom::{fence, AtomicBool, AtomicUsize, Ordering::*, UnsafeCell};

pub(crate) struct SeqBuf {
    seq: AtomicUsize,
    buf: UnsafeCell<Vec<u64>>,
}

// SAFETY: `buf` is used by the owning thread inside `append`, or by `take`/
// `is_empty_unowned` when the protocol above shows the owner out of it.
unsafe impl Sync for SeqBuf {}

impl SeqBuf {
    pub(crate) fn new() -> Self {
        SeqBuf {
            seq: AtomicUsize::new(0),
            buf: UnsafeCell::new(Vec::new()),
        }
    }

    /// Runs `f` on the buffer if `on` is set. Only the owning thread may call this.
    #[inline]
    pub(crate) fn append(&self, on: &AtomicBool, f: impl FnOnce(&mut Vec<u64>)) {
        self.seq.fetch_add(1, Relaxed);
        fence(SeqCst);
        if on.load(Relaxed) {
            // SAFETY: we are the only appender (the owner), and we saw `on` set after
            // our fence, so by the fence order of the module doc a `take` either has
            // not passed its fence yet or reads our odd `seq` and waits for the release
            // below: nobody else touches the buffer until then.
            self.buf.with_mut(|b| f(unsafe { &mut *b }));
        }
        self.seq.fetch_add(1, Release);
    }

    /// Takes the buffer's contents. The caller has set `on` to false and keeps it false
    /// until this returns, and calls `take` for one buffer at a time.
    pub(crate) fn take(&self) -> Vec<u64> {
        fence(SeqCst);
        while self.seq.load(Acquire) & 1 == 1 {
            crate::loom::spin_hint();
        }
        // SAFETY: `seq` is even after our fence: the owner is outside `append`, and
        // any append it starts later sees `on` false (the caller keeps it so) and
        // writes nothing; the acquire load orders its earlier writes before this.
        self.buf.with_mut(|b| std::mem::take(unsafe { &mut *b }))
    }

    /// Whether the buffer is empty; for a buffer whose owner thread has exited (the
    /// caller has seen that with acquire ordering).
    pub(crate) fn is_empty_unowned(&self) -> bool {
        // SAFETY: no owner remains to write.
        self.buf.with(|b| unsafe { (*b).is_empty() })
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use loom::sync::Arc;

    /// Records appended while on are taken exactly once; nothing is written after the
    /// stopper switched recording off and took the buffer.
    #[test]
    fn loom_take_never_races_an_append() {
        loom::model(|| {
            let on = Arc::new(AtomicBool::new(true));
            let buf = Arc::new(SeqBuf::new());
            let writer = {
                let (on, buf) = (on.clone(), buf.clone());
                loom::thread::spawn(move || {
                    buf.append(&on, |b| b.push(1));
                    buf.append(&on, |b| b.push(2));
                })
            };
            on.store(false, SeqCst);
            let taken = buf.take();
            writer.join().unwrap();
            let rest = buf.take();
            assert!(rest.is_empty(), "an append after the stop wrote {rest:?}");
            assert!(
                taken.is_empty() || taken == [1] || taken == [1, 2],
                "records in order, none twice: {taken:?}"
            );
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdUsize;
    use std::sync::Arc;

    /// A stop in the middle of a stream of appends takes an in-order prefix of it, and
    /// nothing is written afterwards (run under Miri for the data-race check).
    #[test]
    fn a_take_mid_stream_gets_an_in_order_prefix() {
        let on = Arc::new(AtomicBool::new(true));
        let buf = Arc::new(SeqBuf::new());
        let appended = Arc::new(StdUsize::new(0));
        let writer = {
            let (on, buf, appended) = (on.clone(), buf.clone(), appended.clone());
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    buf.append(&on, |b| b.push(i));
                    appended.fetch_add(1, SeqCst);
                }
            })
        };
        while appended.load(SeqCst) < 10 {
            std::thread::yield_now();
        }
        on.store(false, SeqCst);
        let taken = buf.take();
        writer.join().unwrap();
        assert!(taken.len() >= 10, "{} records", taken.len());
        assert!(taken.iter().copied().eq(0..taken.len() as u64), "{taken:?}");
        assert!(buf.take().is_empty(), "nothing written after the stop");
    }
}

//! The descriptor table: per-fd readiness records in fixed chunks that are allocated on
//! demand and freed only with the poller, so `poll` reads them without a lock and a
//! descriptor's address never changes. Indices are recycled through a free list; the
//! sequence number tells one use of an index from the next.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32};

use parking_lot::Mutex;

use crate::slot::Slot;

/// Descriptors per chunk.
const CHUNK: usize = 1024;
/// Chunks at most: a million live descriptors, more than any fd limit we have met.
const MAX_CHUNKS: usize = 1024;

pub(crate) struct Desc {
    /// Bumped at every allocation and release; events carry the value they were
    /// registered with.
    pub(crate) seq: AtomicU32,
    pub(crate) closing: AtomicBool,
    pub(crate) read: Slot,
    pub(crate) write: Slot,
}

impl Desc {
    fn new() -> Desc {
        Desc {
            seq: AtomicU32::new(0),
            closing: AtomicBool::new(false),
            read: Slot::new(),
            write: Slot::new(),
        }
    }
}

type Chunk = [Desc; CHUNK];

pub(crate) struct Table {
    chunks: Box<[AtomicPtr<Chunk>]>,
    free: Mutex<FreeList>,
}

struct FreeList {
    /// Indices below this have been handed out at least once.
    next: u32,
    free: Vec<u32>,
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            chunks: (0..MAX_CHUNKS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            free: Mutex::new(FreeList {
                next: 0,
                free: Vec::new(),
            }),
        }
    }

    /// A fresh descriptor (slots empty, not closing): its index and sequence number.
    pub(crate) fn alloc(&self) -> Option<(u32, u32)> {
        let mut f = self.free.lock();
        let idx = match f.free.pop() {
            Some(i) => i,
            None => {
                let i = f.next as usize;
                if i >= CHUNK * MAX_CHUNKS {
                    return None;
                }
                let c = &self.chunks[i / CHUNK];
                if c.load(Relaxed).is_null() {
                    let chunk: Box<Chunk> = Box::new(std::array::from_fn(|_| Desc::new()));
                    // Release: `get` on another thread acquires the chunk's contents.
                    c.store(Box::into_raw(chunk), Release);
                }
                f.next += 1;
                i as u32
            }
        };
        drop(f);
        let d = self.get(idx).expect("allocated index has a chunk");
        d.closing.store(false, Relaxed);
        // Leftover readiness or tokens from the previous use were cleared at release;
        // a racing poll may still have set READY since, which is harmless.
        d.read.clear();
        d.write.clear();
        let seq = d.seq.fetch_add(1, Release).wrapping_add(1);
        Some((idx, seq))
    }

    /// Returns an index to the free list (its slots already emptied by the caller).
    pub(crate) fn release(&self, idx: u32) {
        if let Some(d) = self.get(idx) {
            d.seq.fetch_add(1, Release);
        }
        self.free.lock().free.push(idx);
    }

    pub(crate) fn get(&self, idx: u32) -> Option<&Desc> {
        let idx = idx as usize;
        let c = self.chunks.get(idx / CHUNK)?.load(Acquire);
        if c.is_null() {
            return None;
        }
        // SAFETY: a non-null chunk pointer came from `Box::into_raw` in `alloc` and is
        // freed only in `drop`, which has `&mut self`; the index is within the chunk.
        Some(unsafe { &(*c)[idx % CHUNK] })
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for c in self.chunks.iter() {
            let p = c.load(Acquire);
            if !p.is_null() {
                // SAFETY: allocated by `Box::into_raw` in `alloc`, freed once, here.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_reused_with_a_new_sequence() {
        let t = Table::new();
        let (a, sa) = t.alloc().unwrap();
        let (b, _) = t.alloc().unwrap();
        assert_ne!(a, b);
        t.release(a);
        let (c, sc) = t.alloc().unwrap();
        assert_eq!(c, a);
        assert_ne!(sc, sa);
        assert_eq!(t.get(c).unwrap().seq.load(Relaxed), sc);
    }

    #[test]
    fn chunks_grow_past_the_first() {
        let t = Table::new();
        let last = (0..CHUNK + 3).map(|_| t.alloc().unwrap().0).last().unwrap();
        assert_eq!(last as usize, CHUNK + 2);
        assert!(t.get(last).is_some());
        assert!(t.get((3 * CHUNK) as u32).is_none());
    }
}

//! The per-P local run queue: a fixed ring plus the `runnext` slot (Go's `runq`,
//! `runqput`, `runqget`, `runqgrab`, `runqsteal`).
//!
//! Roles:
//!
//! - The **owner** is the M that currently holds the P. Only it pushes (`put`), and it
//!   pops from the head (`pop`). The owner methods are `unsafe`: their contract is that
//!   one thread at a time calls them, which the scheduler guarantees by handing a P to
//!   one M at a time.
//! - **Thieves** are other Ms. They call [`LocalQueue::steal_into`] and may take half of
//!   the ring (and, when asked, the `runnext` slot) in one batch.
//!
//! ```text
//!            head (CAS by owner and thieves)        tail (stored by the owner only)
//!              v                                      v
//!   slots: [ . | g5 | g6 | g7 | g8 | . | . | . ]      runnext: g9
//! ```
//!
//! Items are `Arc<T>` kept as raw pointers in `AtomicPtr` slots. A thief *copies* a range
//! of slots into its own ring and only then claims it by moving `head` with a CAS; if the
//! CAS fails the copies are ignored (they were never owned), so a slot may be read while
//! the owner overwrites it: that is why slots are atomics (relaxed) and not plain cells.
//!
//! Orderings, and what they pair with:
//! - the owner writes a slot (relaxed) and then `tail` (release); a thief loads `tail`
//!   (acquire) before reading slots, so it sees the writes;
//! - consumers claim slots with a CAS on `head` (release); the owner loads `head`
//!   (acquire) before reusing a slot, so a claimed slot's read happens before it is
//!   overwritten.

use std::sync::Arc;

use crate::loom::{AtomicPtr, AtomicU32, Ordering::*};

/// Where `put` sends half of a full ring (the global run queue in the scheduler, a
/// plain vector in tests).
pub(crate) trait Overflow<T> {
    /// Takes ownership of a batch, oldest first.
    fn push_batch(&self, batch: Vec<Arc<T>>);
}

pub(crate) struct LocalQueue<T> {
    head: AtomicU32,
    tail: AtomicU32,
    mask: u32,
    slots: Box<[AtomicPtr<T>]>,
    runnext: AtomicPtr<T>,
}

// SAFETY: the queue holds `Arc<T>`s and hands them to other threads, which is sound when
// `Arc<T>: Send`, i.e. `T: Send + Sync`. All shared state is atomic.
unsafe impl<T: Send + Sync> Send for LocalQueue<T> {}
// SAFETY: as above; concurrent access goes through atomics under the protocol in the
// module doc, and the owner-only methods are `unsafe` with that contract.
unsafe impl<T: Send + Sync> Sync for LocalQueue<T> {}

impl<T> LocalQueue<T> {
    /// `capacity` must be a power of two, at least 2 (the Builder validates it).
    pub(crate) fn new(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two() && (2..=1 << 30).contains(&capacity));
        LocalQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            mask: capacity as u32 - 1,
            slots: (0..capacity)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            runnext: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    fn capacity(&self) -> u32 {
        self.mask + 1
    }

    /// Number of items in the ring plus `runnext`; a snapshot that may be stale.
    pub(crate) fn len(&self) -> usize {
        let h = self.head.load(Acquire);
        let t = self.tail.load(Acquire);
        let ring = t.wrapping_sub(h).min(self.capacity()) as usize;
        ring + usize::from(!self.runnext.load(Acquire).is_null())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Puts `item` in `runnext` (kicking the previous occupant to the tail) when `next`,
    /// else at the tail. A full ring moves half of itself plus the item to `overflow`.
    /// Returns true when that happened.
    ///
    /// # Safety
    /// Only the owner of the queue may call this, from one thread at a time.
    #[inline]
    pub(crate) unsafe fn put(&self, item: Arc<T>, next: bool, overflow: &impl Overflow<T>) -> bool {
        let mut ptr = Arc::into_raw(item) as *mut T;
        if next {
            // Swap, not store: a thief may take runnext concurrently with a CAS to null.
            let old = self.runnext.swap(ptr, AcqRel);
            if old.is_null() {
                return false;
            }
            ptr = old;
        }
        loop {
            let h = self.head.load(Acquire);
            let t = self.tail.load(Relaxed);
            if t.wrapping_sub(h) < self.capacity() {
                self.slots[(t & self.mask) as usize].store(ptr, Relaxed);
                self.tail.store(t.wrapping_add(1), Release);
                return false;
            }
            if self.put_slow(ptr, h, t, overflow) {
                return true;
            }
            // A consumer moved head meanwhile: the ring has room again.
        }
    }

    /// Go's `runqputslow`: moves half the ring plus `ptr` to `overflow` in one batch.
    #[cold]
    #[inline(never)]
    fn put_slow(&self, ptr: *mut T, h: u32, t: u32, overflow: &impl Overflow<T>) -> bool {
        let n = t.wrapping_sub(h) / 2;
        let batch: Vec<*mut T> = (0..n)
            .map(|i| self.slots[(h.wrapping_add(i) & self.mask) as usize].load(Relaxed))
            .collect();
        if self
            .head
            .compare_exchange(h, h.wrapping_add(n), AcqRel, Relaxed)
            .is_err()
        {
            return false;
        }
        let batch = batch
            .into_iter()
            .chain(std::iter::once(ptr))
            // SAFETY: the successful CAS made us the owner of these `n` pointers, each
            // produced by `Arc::into_raw` in `put`; `ptr` was ours already.
            .map(|p| unsafe { Arc::from_raw(p) })
            .collect();
        overflow.push_batch(batch);
        true
    }

    /// Takes the next item: `runnext` first (returned with `true`, Go's `inheritTime`),
    /// then the head of the ring.
    ///
    /// # Safety
    /// Only the owner of the queue may call this, from one thread at a time.
    pub(crate) unsafe fn pop(&self, use_runnext: bool) -> Option<(Arc<T>, bool)> {
        if use_runnext {
            let next = self.runnext.load(Acquire);
            // Only a thief can race us here, and it can only set the slot to null.
            if !next.is_null()
                && self
                    .runnext
                    .compare_exchange(next, std::ptr::null_mut(), AcqRel, Relaxed)
                    .is_ok()
            {
                // SAFETY: the CAS transferred ownership of the pointer from the slot to us.
                return Some((unsafe { Arc::from_raw(next) }, true));
            }
        }
        loop {
            let h = self.head.load(Acquire);
            let t = self.tail.load(Relaxed);
            if t == h {
                return None;
            }
            let ptr = self.slots[(h & self.mask) as usize].load(Relaxed);
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Release, Relaxed)
                .is_ok()
            {
                // SAFETY: the CAS claimed slot `h`, which the owner filled via `put`.
                return Some((unsafe { Arc::from_raw(ptr) }, false));
            }
        }
    }

    /// Go's `runqsteal`: moves about `permille`/1000 (rounded up) of `self`'s ring into
    /// `dst` and returns one of the stolen items to run now. With `take_runnext`, an
    /// empty ring gives up its `runnext` item instead.
    ///
    /// # Safety
    /// The caller must be the owner of `dst`, whose ring must be empty, and `dst` must
    /// have the same capacity as `self`.
    pub(crate) unsafe fn steal_into(
        &self,
        dst: &LocalQueue<T>,
        permille: u32,
        take_runnext: bool,
    ) -> Option<(Arc<T>, u32)> {
        let t = dst.tail.load(Relaxed);
        let n = self.grab(dst, t, permille, take_runnext);
        if n == 0 {
            return None;
        }
        let last = t.wrapping_add(n - 1);
        let ptr = dst.slots[(last & dst.mask) as usize].load(Relaxed);
        if n > 1 {
            let h = dst.head.load(Acquire);
            debug_assert!(t.wrapping_sub(h) + n - 1 <= dst.capacity());
            // Publish the rest; pairs with the acquire load of `tail` by dst's thieves.
            dst.tail.store(last, Release);
        }
        // SAFETY: `grab` claimed the pointer (CAS on our head or runnext) and we keep it
        // out of dst's published range, so nobody else owns it.
        Some((unsafe { Arc::from_raw(ptr) }, n))
    }

    /// Go's `runqgrab`: copies a batch into `dst`'s slots starting at `dst_tail` and
    /// claims it from `self`. Returns how many were claimed.
    fn grab(&self, dst: &LocalQueue<T>, dst_tail: u32, permille: u32, take_runnext: bool) -> u32 {
        loop {
            let h = self.head.load(Acquire);
            let t = self.tail.load(Acquire);
            let avail = t.wrapping_sub(h);
            if avail > self.capacity() {
                continue; // read an inconsistent h and t
            }
            let n = ((avail as u64 * permille as u64).div_ceil(1000) as u32).min(avail);
            if n == 0 {
                if !take_runnext {
                    return 0;
                }
                let next = self.runnext.load(Acquire);
                if next.is_null() {
                    return 0;
                }
                if self
                    .runnext
                    .compare_exchange(next, std::ptr::null_mut(), AcqRel, Relaxed)
                    .is_err()
                {
                    continue;
                }
                dst.slots[(dst_tail & dst.mask) as usize].store(next, Relaxed);
                return 1;
            }
            for i in 0..n {
                let p = self.slots[(h.wrapping_add(i) & self.mask) as usize].load(Relaxed);
                dst.slots[(dst_tail.wrapping_add(i) & dst.mask) as usize].store(p, Relaxed);
            }
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n), AcqRel, Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }

    /// Removes everything (shutdown). Needs exclusive access.
    pub(crate) fn drain(&mut self) -> Vec<Arc<T>> {
        let mut out = Vec::new();
        // SAFETY: `&mut self` excludes every other user, so we are the owner.
        while let Some((item, _)) = unsafe { self.pop(true) } {
            out.push(item);
        }
        out
    }
}

impl<T> Drop for LocalQueue<T> {
    fn drop(&mut self) {
        drop(self.drain());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct VecOverflow(RefCell<Vec<Arc<usize>>>);
    impl Overflow<usize> for VecOverflow {
        fn push_batch(&self, batch: Vec<Arc<usize>>) {
            self.0.borrow_mut().extend(batch);
        }
    }

    fn drain_values(q: &mut LocalQueue<usize>) -> Vec<usize> {
        q.drain().into_iter().map(|a| *a).collect()
    }

    #[test]
    fn fifo_order_with_runnext_first() {
        let mut q = LocalQueue::new(8);
        let of = VecOverflow(RefCell::new(Vec::new()));
        // SAFETY: single-threaded test; this thread is the owner.
        unsafe {
            q.put(Arc::new(1), false, &of);
            q.put(Arc::new(2), false, &of);
            q.put(Arc::new(9), true, &of);
            q.put(Arc::new(10), true, &of); // kicks 9 to the tail
        }
        assert_eq!(q.len(), 4);
        assert_eq!(drain_values(&mut q), vec![10, 1, 2, 9]);
    }

    #[test]
    fn overflow_moves_half_plus_one_in_order() {
        let mut q = LocalQueue::new(8);
        let of = VecOverflow(RefCell::new(Vec::new()));
        for i in 0..9 {
            // SAFETY: single-threaded test; this thread is the owner.
            unsafe { q.put(Arc::new(i), false, &of) };
        }
        let spilled: Vec<usize> = of.0.borrow().iter().map(|a| **a).collect();
        assert_eq!(spilled, vec![0, 1, 2, 3, 8]);
        assert_eq!(drain_values(&mut q), vec![4, 5, 6, 7]);
    }

    #[test]
    fn steal_takes_half_rounded_up_and_runnext_only_when_asked() {
        let victim = LocalQueue::new(8);
        let thief = LocalQueue::new(8);
        let of = VecOverflow(RefCell::new(Vec::new()));
        for i in 0..5 {
            // SAFETY: single-threaded test; this thread owns both queues.
            unsafe { victim.put(Arc::new(i), false, &of) };
        }
        // SAFETY: as above.
        unsafe { victim.put(Arc::new(99), true, &of) };
        // SAFETY: as above; the thief's ring is empty.
        let (first, n) = unsafe { victim.steal_into(&thief, 500, false) }.unwrap();
        assert_eq!(n, 3);
        assert_eq!(*first, 2);
        assert_eq!(thief.len(), 2);
        let mut thief = thief;
        assert_eq!(drain_values(&mut thief), vec![0, 1]);
        let mut rest = Vec::new();
        // SAFETY: as above.
        while let Some((g, _)) = unsafe { victim.steal_into(&thief, 500, false) } {
            rest.push(*g);
            rest.extend(drain_values(&mut thief));
        }
        rest.sort();
        assert_eq!(rest, vec![3, 4]);
        // SAFETY: as above.
        let (g, n) = unsafe { victim.steal_into(&thief, 500, true) }.unwrap();
        assert_eq!((*g, n), (99, 1));
    }

    #[test]
    fn the_steal_fraction_sets_the_batch_size() {
        for (permille, want) in [(250, 3), (500, 5), (1000, 10), (1, 1)] {
            let victim = LocalQueue::new(16);
            let mut thief = LocalQueue::new(16);
            let of = VecOverflow(RefCell::new(Vec::new()));
            for i in 0..10 {
                // SAFETY: single-threaded test; this thread owns both queues.
                unsafe { victim.put(Arc::new(i), false, &of) };
            }
            // SAFETY: as above; the thief's ring is empty.
            let (_, n) = unsafe { victim.steal_into(&thief, permille, false) }.unwrap();
            assert_eq!(n, want, "permille {permille}");
            assert_eq!(thief.drain().len() as u32, want - 1);
        }
    }

    #[test]
    fn concurrent_steals_lose_and_duplicate_nothing() {
        use std::sync::atomic::AtomicBool;
        const N: usize = if cfg!(miri) { 300 } else { 100_000 };
        let victim = Arc::new(LocalQueue::<usize>::new(256));
        let done = Arc::new(AtomicBool::new(false));
        let of = Arc::new(parking_lot::Mutex::new(Vec::new()));
        struct Shared(Arc<parking_lot::Mutex<Vec<Arc<usize>>>>);
        impl Overflow<usize> for Shared {
            fn push_batch(&self, b: Vec<Arc<usize>>) {
                self.0.lock().extend(b);
            }
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let (victim, done) = (victim.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut mine = LocalQueue::new(256);
                    let mut got = Vec::new();
                    while !done.load(Acquire) || !victim.is_empty() {
                        // SAFETY: this thread owns `mine`, whose ring is empty here.
                        if let Some((g, _)) = unsafe { victim.steal_into(&mine, 500, true) } {
                            got.push(*g);
                            got.extend(mine.drain().into_iter().map(|a| *a));
                        }
                    }
                    got
                })
            })
            .collect();
        let mut own = Vec::new();
        let sink = Shared(of.clone());
        for i in 0..N {
            // SAFETY: this thread is the victim's only owner.
            unsafe { victim.put(Arc::new(i), i % 7 == 0, &sink) };
            if i % 3 == 0 {
                // SAFETY: as above.
                if let Some((g, _)) = unsafe { victim.pop(true) } {
                    own.push(*g);
                }
            }
        }
        done.store(true, Release);
        let mut all: Vec<usize> = own;
        for t in thieves {
            all.extend(t.join().unwrap());
        }
        all.extend(of.lock().iter().map(|a| **a));
        // SAFETY: thieves have exited; we are the only user.
        while let Some((g, _)) = unsafe { victim.pop(true) } {
            all.push(*g);
        }
        all.sort_unstable();
        assert_eq!(all, (0..N).collect::<Vec<_>>());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;
    use std::cell::RefCell;

    struct VecOverflow(RefCell<Vec<Arc<usize>>>);
    impl Overflow<usize> for VecOverflow {
        fn push_batch(&self, batch: Vec<Arc<usize>>) {
            self.0.borrow_mut().extend(batch);
        }
    }

    /// The owner pushes (overflowing a 4-slot ring, using runnext) and pops while a thief
    /// steals half-batches and runnext: every item comes out exactly once.
    #[test]
    fn loom_runq_owner_and_thief() {
        loom::model(|| {
            let victim = Arc::new(LocalQueue::<usize>::new(4));
            let v2 = victim.clone();
            let thief = thread::spawn(move || {
                let mut mine = LocalQueue::new(4);
                let mut got = Vec::new();
                // SAFETY: this thread owns `mine` (empty ring).
                if let Some((g, _)) = unsafe { v2.steal_into(&mine, 500, true) } {
                    got.push(*g);
                    got.extend(mine.drain().into_iter().map(|a| *a));
                }
                got
            });
            let of = VecOverflow(RefCell::new(Vec::new()));
            let mut got = Vec::new();
            for i in 0..6 {
                // SAFETY: this thread is the victim's owner.
                unsafe { victim.put(Arc::new(i), i == 5, &of) };
            }
            // SAFETY: as above.
            if let Some((g, _)) = unsafe { victim.pop(true) } {
                got.push(*g);
            }
            got.extend(thief.join().unwrap());
            got.extend(of.0.borrow().iter().map(|a| **a));
            // SAFETY: the thief has exited.
            while let Some((g, _)) = unsafe { victim.pop(true) } {
                got.push(*g);
            }
            got.sort_unstable();
            assert_eq!(got, (0..6).collect::<Vec<_>>());
        });
    }
}

//! Goroutine stacks: carved from large slabs, guarded without new mappings, pooled per P
//! and globally (DESIGN §5).
//!
//! ```text
//!   one slab (64 MiB of address space, MAP_NORESERVE, one VMA):
//!
//!   low                                                                   high
//!   | guard | stack 0 ......... | guard | stack 1 ......... | guard | ...
//!     ^ limit()          base() ^
//!     stacks grow down, from base() towards the guard
//! ```
//!
//! Only touched pages cost memory: a goroutine that parks after using a little stack
//! holds one or two pages however large its stack is.
//!
//! The guard below each stack is made one of three ways ([`StackPolicy`]):
//! - `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13): a fault on the page, no new VMA, so a
//!   million guarded stacks leave `vm.max_map_count` alone;
//! - `mprotect(PROT_NONE)`: splits the slab, two VMAs per stack, so it is used only while
//!   the mapping budget (`vm.max_map_count`, 65530 by default) lasts;
//! - no guard page (canary): the lowest bytes of the stack (the red zone) must stay zero,
//!   and the M checks them after every switch. Below each canary stack is a one-page gap,
//!   then the neighbouring stack, all writable, so an overflow does not fault: it is
//!   caught late (it may already have written into the gap or the neighbouring stack),
//!   but it is still reported with the goroutine's name before anything else runs on the
//!   damaged stacks. A runaway recursion that never reaches a switch runs down the slab
//!   until it hits a guard: the guard of a stack below, or the one put under the slab's
//!   first canary stack; the fault handler then finds the running goroutine's red zone
//!   damaged and reports the overflow. What the canary cannot see is a frame that steps
//!   over the red zone without writing it (a large uninitialised buffer).
//!
//! Whatever the regime, an overflow ends the process with a message naming the
//! goroutine (see `overflow.rs`), never in silent corruption.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::config::page_size;

/// How goroutine stacks are guarded against overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackPolicy {
    /// `GuardInstall` where the kernel has it, else `Mprotect` while the mapping budget
    /// lasts, then `Canary` (with a one-time warning on stderr).
    Auto,
    /// `madvise(MADV_GUARD_INSTALL)` guard pages (Linux ≥ 6.13); `build()` fails elsewhere.
    GuardInstall,
    /// `mprotect` guard pages while the mapping budget lasts, then `Canary` with a warning.
    Mprotect,
    /// No guard page; a zeroed red zone at the stack limit checked at every switch (and
    /// by the fault handler). Weaker than a guard page: an overflow is caught late, after
    /// it may have written into the neighbouring stack, and a frame that steps over the
    /// red zone without writing it is not caught at all.
    Canary,
}

/// How one particular stack is guarded (what `StackPolicy` resolved to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StackGuard {
    /// A `MADV_GUARD_INSTALL` guard page.
    GuardInstall = 1,
    /// An `mprotect(PROT_NONE)` guard page.
    Mprotect = 2,
    /// A zeroed red zone checked at every switch.
    Canary = 3,
}

/// `MADV_GUARD_INSTALL` from Linux 6.13 (`include/uapi/asm-generic/mman-common.h`).
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Bytes of address space mapped per slab. Large, so a million stacks need few mmaps;
/// NORESERVE, so unused parts cost nothing.
const SLAB_BYTES: usize = 64 << 20;
/// Stacks a P keeps for itself before spilling half to the global pool.
pub(crate) const P_STACK_CACHE: usize = 64;
/// Stacks the global pool keeps without trimming their pages.
const GLOBAL_WARM_STACKS: usize = 256;
/// Bytes at the bottom of a canary stack that must stay zero.
const RED_ZONE: usize = 256;
/// Mappings left to the rest of the process when budgeting `mprotect` guards.
const MAP_RESERVE: usize = 4096;

/// Where a stack lies and how it is guarded (a copyable description; ownership is
/// [`GoStack`]'s). Plain fields, so the fault handler can use it without calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StackRange {
    /// Highest address (exclusive); the stack grows down from here.
    base: usize,
    /// Lowest address of the stack including its guard page.
    limit: usize,
    /// Lowest usable address: `limit` plus the guard page, or `limit` for a canary stack.
    bottom: usize,
    guard: StackGuard,
}

/// One goroutine stack. The memory belongs to the pool's slab; dropping a `GoStack`
/// leaks it into the slab until the pool goes.
pub(crate) struct GoStack(StackRange);

// SAFETY: `base` and `limit` are page-aligned (so STACK_ALIGNMENT-aligned), `limit`
// includes the guard page as the trait asks, and the range belongs to this GoStack alone
// (the pool hands it out once). Stacks are at least a page, so at least MIN_STACK_SIZE
// (4096). With a guard page (GuardInstall, Mprotect) the contract holds as stated. With
// `Canary` the trait's "must have a guard page" is not met: gort then catches the
// overflow as far as a red zone can (zeroed red zone checked by the M after every switch,
// and by the fault handler when a runaway overflow faults further down) and aborts as
// soon as it sees the damage; until then the gap page and the neighbouring stack may
// have been written, and a frame that steps over the red zone without writing it is not
// caught. That policy is opt-in or the documented fallback once guard pages cannot be
// had, and it is documented as weaker.
unsafe impl corosensei::stack::Stack for GoStack {
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.0.base).expect("stack base is non-null")
    }
    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.0.limit).expect("stack limit is non-null")
    }
}

impl GoStack {
    pub(crate) fn range(&self) -> StackRange {
        self.0
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn trim(&self) {
        self.0.trim()
    }
}

impl StackRange {
    /// Usable bytes (excluding the guard page).
    pub(crate) fn size(&self) -> usize {
        self.base - self.usable_bottom()
    }

    /// Lowest address including the guard page.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Lowest usable address (above the guard page, if any).
    pub(crate) fn usable_bottom(&self) -> usize {
        self.bottom
    }

    /// True when the red zone of a canary stack has been written (an overflow).
    /// Async-signal-safe: the fault handler calls it too.
    pub(crate) fn red_zone_damaged(&self) -> bool {
        if self.guard != StackGuard::Canary {
            return false;
        }
        let p = self.bottom as *const u64;
        // SAFETY: the red zone is the first RED_ZONE bytes of this stack's own memory,
        // which stays mapped and readable while the pool lives (the caller holds the
        // goroutine whose stack it is). Volatile because the coroutine wrote it behind
        // the compiler's back (and, in a runaway overflow, a neighbour's may be writing
        // it still). Every word is checked: calls and pushes write single words.
        unsafe {
            let mut any = 0u64;
            for i in 0..RED_ZONE / 8 {
                any |= std::ptr::read_volatile(p.add(i));
            }
            any != 0
        }
    }

    /// Gives the pages back to the OS; the next use starts from zeroed pages.
    fn trim(&self) {
        let bottom = self.usable_bottom();
        // SAFETY: [bottom, base) is this stack's own private anonymous memory and no
        // coroutine runs on it (it is in the pool). The guard page is left alone.
        unsafe {
            libc::madvise(bottom as *mut _, self.base - bottom, libc::MADV_DONTNEED);
        }
    }
}

/// Gives back the pages of several pooled stacks, one `madvise` per run of adjacent
/// slots: each call costs a TLB shootdown on every CPU running this process, so fewer,
/// larger calls are much cheaper. Guard pages inside a run are zapped too, which keeps
/// them: `MADV_DONTNEED` preserves `MADV_GUARD_INSTALL` markers, and an `mprotect` guard
/// is a property of its mapping, not of its (absent) page.
fn trim_batch(stacks: &mut [GoStack]) {
    stacks.sort_unstable_by_key(|s| s.0.base);
    let mut i = 0;
    while i < stacks.len() {
        let start = stacks[i].0.bottom;
        let mut end = stacks[i].0.base;
        i += 1;
        while i < stacks.len() && stacks[i].0.limit == end {
            end = stacks[i].0.base;
            i += 1;
        }
        // SAFETY: [start, end) covers pooled stacks (no coroutine runs on them) and the
        // guard pages between adjacent ones, all inside our own private anonymous slab.
        unsafe {
            libc::madvise(start as *mut _, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// `mprotect` guard pages the whole process may still make (two mappings each): one
/// budget for all runtimes, since they share `vm.max_map_count`.
fn mprotect_budget() -> &'static AtomicUsize {
    static BUDGET: OnceLock<AtomicUsize> = OnceLock::new();
    BUDGET.get_or_init(|| AtomicUsize::new(initial_mprotect_budget()))
}

/// Takes one guard page from the process budget; false when it is spent.
fn take_mprotect_budget() -> bool {
    mprotect_budget()
        .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// Counters of the stack allocator, for metrics.
#[derive(Default)]
pub(crate) struct StackStats {
    pub(crate) slabs: AtomicUsize,
    pub(crate) carved: AtomicUsize,
    pub(crate) trimmed: AtomicU64,
}

struct Carver {
    next: usize,
    end: usize,
    slabs: Vec<(usize, usize)>,
    /// `mprotect` guard pages in our slabs, given back to the process budget on drop.
    mprotected: usize,
    /// Set once an `mprotect` guard could not be had: from then on, canary stacks.
    mprotect_spent: bool,
    warned: bool,
}

/// The global part of the pool: the slab carver and free stacks by size.
pub(crate) struct StackPool {
    policy: StackPolicy,
    default_size: usize,
    carver: Mutex<Carver>,
    free: Mutex<Vec<GoStack>>,
    free_other: Mutex<Vec<GoStack>>,
    /// The `StackGuard` of the most recently carved stack (0 before the first).
    pub(crate) regime: AtomicU8,
    pub(crate) stats: StackStats,
    /// Bytes left to carve in the current slab (`Carver::end - next`), so that
    /// [`check_available`](Self::check_available) need not take the carver's lock.
    room: AtomicUsize,
    /// Live goroutines, counted only when the runtime caps them
    /// (`Config::max_goroutines`, see `spawn.rs`). It lives here because each live
    /// goroutine holds, or will hold, one stack of this pool. Padded: every capped spawn
    /// and exit writes it.
    pub(crate) live: CachePadded<AtomicUsize>,
}

/// Error when no stack can be had.
#[derive(Debug)]
pub(crate) struct StackError(pub(crate) String);

impl StackPool {
    pub(crate) fn new(policy: StackPolicy, default_size: usize) -> Result<Self, String> {
        let has_guard_install = guard_install_supported();
        if policy == StackPolicy::GuardInstall && !has_guard_install {
            return Err(
                "stack policy GuardInstall needs madvise(MADV_GUARD_INSTALL), \
                        which this kernel lacks (Linux >= 6.13); use StackPolicy::Auto"
                    .into(),
            );
        }
        let policy = match policy {
            StackPolicy::Auto if has_guard_install => StackPolicy::GuardInstall,
            other => other,
        };
        Ok(StackPool {
            policy,
            default_size,
            carver: Mutex::new(Carver {
                next: 0,
                end: 0,
                slabs: Vec::new(),
                mprotected: 0,
                mprotect_spent: false,
                warned: false,
            }),
            free: Mutex::new(Vec::new()),
            free_other: Mutex::new(Vec::new()),
            regime: AtomicU8::new(0),
            stats: StackStats::default(),
            room: AtomicUsize::new(0),
            live: CachePadded::new(AtomicUsize::new(0)),
        })
    }

    pub(crate) fn default_size(&self) -> usize {
        self.default_size
    }

    /// Takes a stack of `size` usable bytes: from `cache` (the P's), the global pool,
    /// or a slab. The cache hit is inline (it is on every spawn's first run).
    #[inline(always)]
    pub(crate) fn get(&self, size: usize, cache: &mut Vec<GoStack>) -> Result<GoStack, StackError> {
        if size == self.default_size {
            if let Some(s) = cache.pop() {
                return Ok(s);
            }
        }
        self.get_slow(size, cache)
    }

    /// [`get`](Self::get) past the P's cache.
    #[inline(never)]
    fn get_slow(&self, size: usize, cache: &mut Vec<GoStack>) -> Result<GoStack, StackError> {
        if size == self.default_size {
            {
                let mut free = self.free.lock();
                let n = free.len().min(P_STACK_CACHE / 2);
                if n > 0 {
                    let at = free.len() - n;
                    cache.extend(free.drain(at..));
                }
            }
            if let Some(s) = cache.pop() {
                return Ok(s);
            }
        } else {
            let mut other = self.free_other.lock();
            if let Some(i) = other.iter().position(|s| s.size() == size) {
                return Ok(other.swap_remove(i));
            }
        }
        self.carve(size)
    }

    /// Whether a stack of `size` usable bytes can be had now, for a goroutine about to be
    /// spawned (`cache`: the spawning P's, if any). Goroutines take their stack only when
    /// they first run, so this is a forecast, not a reservation: it lets `spawn` report
    /// an exhausted address space itself, while the goroutines already queued keep the
    /// first-run allocation as their backstop. Free while the P has a stack cached or the
    /// current slab has room; otherwise it looks at the global pool and, when that is
    /// empty too, maps the next slab now (which the next carve then uses).
    #[inline]
    pub(crate) fn check_available(
        &self,
        size: usize,
        cache: Option<&[GoStack]>,
    ) -> Result<(), StackError> {
        if size == self.default_size && cache.is_some_and(|c| !c.is_empty()) {
            return Ok(());
        }
        if self.room.load(Relaxed) >= size + page_size() {
            return Ok(());
        }
        self.check_available_slow(size)
    }

    #[cold]
    fn check_available_slow(&self, size: usize) -> Result<(), StackError> {
        let pooled = if size == self.default_size {
            !self.free.lock().is_empty()
        } else {
            self.free_other.lock().iter().any(|s| s.size() == size)
        };
        if pooled {
            return Ok(());
        }
        let slot = size + page_size();
        let mut c = self.carver.lock();
        if c.end - c.next >= slot {
            return Ok(());
        }
        if slot > SLAB_BYTES {
            // A stack larger than a slab gets a mapping of its own when it is carved:
            // probe that one could be had, rather than map it now and let smaller stacks
            // carve it up first.
            return map_anonymous(slot).map(|(p, len)| {
                // SAFETY: the probe mapping we just made, used by nothing.
                unsafe { libc::munmap(p as *mut _, len) };
            });
        }
        self.map_slab(&mut c, slot)
    }

    /// Returns a stack whose coroutine has finished.
    pub(crate) fn put(&self, stack: GoStack, cache: &mut Vec<GoStack>) {
        if stack.size() != self.default_size {
            stack.trim();
            self.stats.trimmed.fetch_add(1, Relaxed);
            self.free_other.lock().push(stack);
            return;
        }
        cache.push(stack);
        if cache.len() > P_STACK_CACHE {
            // Spill the older half; they go cold, so give their pages back.
            let mut spill: Vec<GoStack> = cache.drain(..P_STACK_CACHE / 2).collect();
            // A small global pool stays warm (a busy runtime reuses it at once); beyond
            // that, stacks are going cold, so give their pages back (outside the lock).
            if self.free.lock().len() + spill.len() > GLOBAL_WARM_STACKS {
                trim_batch(&mut spill);
                self.stats.trimmed.fetch_add(spill.len() as u64, Relaxed);
            }
            self.free.lock().extend(spill);
        }
    }

    /// Returns a P's cache to the global pool (the P is going away).
    pub(crate) fn put_all(&self, cache: &mut Vec<GoStack>) {
        self.free.lock().append(cache);
    }

    /// Maps a fresh slab (at least `slot` bytes) and makes it the one carved next; what
    /// was left of the previous one (less than a slot) stays unused.
    fn map_slab(&self, c: &mut Carver, slot: usize) -> Result<(), StackError> {
        let (p, len) = map_anonymous(slot)?;
        c.slabs.push((p, len));
        c.next = p;
        c.end = p + len;
        self.room.store(len, Relaxed);
        self.stats.slabs.fetch_add(1, Relaxed);
        Ok(())
    }

    fn carve(&self, size: usize) -> Result<GoStack, StackError> {
        let page = page_size();
        let mut c = self.carver.lock();
        // Every stack gets a page below it: a guard page, or for canary stacks a gap
        // that keeps one stack's red zone off its neighbour's top.
        let slot = size + page;
        if c.end - c.next < slot {
            self.map_slab(&mut c, slot)?;
        }
        let slab_start = c.slabs.last().map_or(0, |&(p, _)| p);
        let slot_start = c.next;
        c.next += slot;
        self.room.store(c.end - c.next, Relaxed);
        let base = slot_start + slot;
        let guard = match self.policy {
            StackPolicy::GuardInstall => {
                // SAFETY: `slot_start` is the first page of this stack's slot in our
                // slab, which nothing else uses.
                let rc = unsafe { libc::madvise(slot_start as *mut _, page, MADV_GUARD_INSTALL) };
                if rc != 0 {
                    let err = std::io::Error::last_os_error();
                    return Err(StackError(format!("madvise(MADV_GUARD_INSTALL): {err}")));
                }
                StackGuard::GuardInstall
            }
            StackPolicy::Auto | StackPolicy::Mprotect
                if !c.mprotect_spent && take_mprotect_budget() =>
            {
                // SAFETY: as above; PROT_NONE on the first page of our own slot.
                let rc = unsafe { libc::mprotect(slot_start as *mut _, page, libc::PROT_NONE) };
                if rc == 0 {
                    c.mprotected += 1;
                    StackGuard::Mprotect
                } else {
                    // Out of mappings (ENOMEM) sooner than budgeted: the rest of the
                    // process made some too. This slot becomes a canary stack.
                    mprotect_budget().store(0, Relaxed);
                    c.mprotect_spent = true;
                    StackGuard::Canary
                }
            }
            StackPolicy::Auto | StackPolicy::Mprotect => StackGuard::Canary,
            StackPolicy::Canary => StackGuard::Canary,
        };
        if guard == StackGuard::Canary && self.policy != StackPolicy::Canary && !c.warned {
            c.warned = true;
            eprintln!(
                "gort: warning: stack guard pages would exceed vm.max_map_count ({}); further \
                 goroutine stacks use the Canary policy (overflow caught at the next switch). \
                 Raise vm.max_map_count or run on Linux >= 6.13 for guard pages without \
                 mappings.",
                read_usize("/proc/sys/vm/max_map_count").unwrap_or(65530)
            );
        }
        if guard == StackGuard::Canary && slot_start == slab_start {
            // The gap under the slab's first stack becomes a guard page when one can be
            // had (GUARD_INSTALL costs no mapping; mprotect costs one per slab), so a
            // runaway overflow that never switches ends in a fault inside the slab that
            // the handler can attribute, not in whatever mapping lies below. Best effort.
            // SAFETY: the first page of our own slot, which is the canary stack's gap
            // page and holds nothing.
            unsafe {
                if !guard_install_supported()
                    || libc::madvise(slot_start as *mut _, page, MADV_GUARD_INSTALL) != 0
                {
                    libc::mprotect(slot_start as *mut _, page, libc::PROT_NONE);
                }
            }
        }
        let limit = match guard {
            StackGuard::Canary => slot_start + page,
            _ => slot_start,
        };
        let stack = GoStack(StackRange {
            base,
            limit,
            bottom: slot_start + page,
            guard,
        });
        self.regime.store(guard as u8, Relaxed);
        self.stats.carved.fetch_add(1, Relaxed);
        Ok(stack)
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let c = self.carver.get_mut();
        if c.mprotected > 0 {
            // Unmapping the slabs below removes these guards' mappings.
            mprotect_budget().fetch_add(c.mprotected, Relaxed);
        }
        for &(p, len) in &c.slabs {
            // SAFETY: the runtime drops the pool only after every coroutine is gone, so no
            // stack in these slabs is in use; each (p, len) came from our mmap.
            unsafe {
                libc::munmap(p as *mut _, len);
            }
        }
    }
}

/// Maps address space for stacks: a slab, or more for a stack slot larger than one.
fn map_anonymous(slot: usize) -> Result<(usize, usize), StackError> {
    let len = SLAB_BYTES.max(slot);
    // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let err = std::io::Error::last_os_error();
        return Err(StackError(no_slab_message(len, slot - page_size(), &err)));
    }
    Ok((p as usize, len))
}

/// Why a slab could not be mapped, with the knobs that help: both `spawn`
/// (`SpawnError::NoStack`) and a goroutine that fails on its first run report it.
fn no_slab_message(len: usize, stack_size: usize, err: &std::io::Error) -> String {
    let why = if err.raw_os_error() != Some(libc::ENOMEM) {
        String::new()
    } else {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the one rlimit struct we pass.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } == 0;
        if ok && r.rlim_cur != libc::RLIM_INFINITY {
            format!(
                " (the address-space limit RLIMIT_AS, {} MiB, is reached)",
                r.rlim_cur >> 20
            )
        } else {
            " (out of memory, or of memory mappings: vm.max_map_count)".into()
        }
    };
    format!(
        "cannot map {} MiB of address space for goroutine stacks of {} KiB: {err}{why}; \
         use smaller stacks (Builder::stack_size, GoroutineBuilder::stack_size) or fewer \
         live goroutines (Builder::max_goroutines, GORT_MAX_GOROUTINES)",
        len >> 20,
        stack_size >> 10
    )
}

/// Whether this kernel supports `MADV_GUARD_INSTALL`, tried once on a scratch mapping.
fn guard_install_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let page = page_size();
        // SAFETY: a scratch anonymous mapping of two pages, unmapped below.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return false;
            }
            let ok = libc::madvise(p, page, MADV_GUARD_INSTALL) == 0;
            libc::munmap(p, 2 * page);
            ok
        }
    })
}

/// How many `mprotect` guard pages (two mappings each) fit in what is left of
/// `vm.max_map_count`, keeping a reserve for the rest of the process.
fn initial_mprotect_budget() -> usize {
    let max = read_usize("/proc/sys/vm/max_map_count").unwrap_or(65530);
    let used = std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count());
    max.saturating_sub(used + MAP_RESERVE) / 2
}

fn read_usize(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serialises the tests that spend or swap the process-wide mprotect budget.
    static BUDGET: Mutex<()> = Mutex::new(());

    fn two_stacks(policy: StackPolicy, size: usize) -> (StackPool, GoStack, GoStack) {
        let pool = StackPool::new(policy, size).expect("pool");
        let mut cache = Vec::new();
        let a = pool.get(size, &mut cache).expect("stack");
        let b = pool.get(size, &mut cache).expect("stack");
        (pool, a, b)
    }

    #[test]
    fn layout_of_each_regime() {
        let _b = BUDGET.lock();
        let page = page_size();
        let size = 16 * page;
        let mut cases = vec![
            (StackPolicy::Mprotect, StackGuard::Mprotect),
            (StackPolicy::Canary, StackGuard::Canary),
        ];
        if guard_install_supported() {
            cases.push((StackPolicy::GuardInstall, StackGuard::GuardInstall));
            cases.push((StackPolicy::Auto, StackGuard::GuardInstall));
        }
        for (policy, guard) in cases {
            let (pool, a, b) = two_stacks(policy, size);
            let (ra, rb) = (a.range(), b.range());
            for r in [ra, rb] {
                assert_eq!(r.guard, guard, "{policy:?}");
                assert_eq!(r.size(), size, "{policy:?}");
                assert_eq!(r.base % page, 0, "{policy:?}");
                assert_eq!(r.limit % page, 0, "{policy:?}");
                let guard_bytes = if guard == StackGuard::Canary { 0 } else { page };
                assert_eq!(r.usable_bottom() - r.limit(), guard_bytes, "{policy:?}");
                assert!(!r.red_zone_damaged(), "{policy:?}");
            }
            // Consecutive slots: one page (guard or gap) between a stack's top and the
            // usable bottom of the next.
            assert_eq!(rb.usable_bottom(), ra.base + page, "{policy:?}");
            assert_eq!(pool.regime.load(Relaxed), guard as u8, "{policy:?}");
        }
    }

    #[test]
    fn canary_red_zone_sees_any_word_and_trim_clears_it() {
        let (_pool, a, _b) = two_stacks(StackPolicy::Canary, 16 * page_size());
        let r = a.range();
        for off in [0, 8, 100, RED_ZONE - 1] {
            let p = (r.usable_bottom() + off) as *mut u8;
            // SAFETY: inside the red zone of a stack we own; no coroutine runs on it.
            unsafe { p.write_volatile(1) };
            assert!(r.red_zone_damaged(), "byte {off}");
            // SAFETY: as above.
            unsafe { p.write_volatile(0) };
            assert!(!r.red_zone_damaged(), "byte {off}");
        }
        // Just above the red zone is ordinary stack.
        let p = (r.usable_bottom() + RED_ZONE) as *mut u8;
        // SAFETY: as above, the first byte above the red zone.
        unsafe { p.write_volatile(1) };
        assert!(!r.red_zone_damaged());
        let q = r.usable_bottom() as *mut u8;
        // SAFETY: as above.
        unsafe { q.write_volatile(7) };
        a.trim();
        assert!(!r.red_zone_damaged(), "trim gives zeroed pages back");
    }

    #[test]
    fn the_spawn_check_maps_a_slab_only_when_out_of_room_and_the_carve_uses_it() {
        let size = 16 * page_size();
        let pool = StackPool::new(StackPolicy::Canary, size).expect("pool");
        let slabs = || pool.stats.slabs.load(Relaxed);
        pool.check_available(size, None).expect("room");
        assert_eq!(slabs(), 1, "no room at first: the check maps a slab");
        pool.check_available(size, None).expect("room");
        let mut cache = Vec::new();
        let a = pool.get(size, &mut cache).expect("stack");
        assert_eq!(
            slabs(),
            1,
            "the check had room, the carve used the check's slab"
        );
        pool.put(a, &mut cache);
        pool.check_available(size, Some(&cache)).expect("cached");
        // A stack larger than a slab is probed, not mapped for others to carve up.
        pool.check_available(SLAB_BYTES * 2, None).expect("probe");
        assert_eq!(slabs(), 1);
    }

    #[test]
    fn mprotect_falls_back_to_canary_when_the_budget_is_spent() {
        let _b = BUDGET.lock();
        let saved = mprotect_budget().swap(1, Relaxed);
        let (pool, a, b) = two_stacks(StackPolicy::Mprotect, 16 * page_size());
        let left = mprotect_budget().load(Relaxed);
        assert_eq!(a.range().guard, StackGuard::Mprotect);
        assert_eq!(b.range().guard, StackGuard::Canary);
        assert!(pool.carver.lock().warned);
        assert_eq!(pool.regime.load(Relaxed), StackGuard::Canary as u8);
        assert_eq!(b.range().usable_bottom(), a.range().base + page_size());
        drop(pool);
        // The pool gave its one guard back when its slabs went.
        assert_eq!(mprotect_budget().swap(saved, Relaxed), left + 1);
    }
}
